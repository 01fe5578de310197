"""The state machines' diagrams in docs/ARCHITECTURE.md, drawn from their tables.

A test fails if the document and the tables differ;
`python -m gateway.domain.machine_docs docs/ARCHITECTURE.md` rewrites the diagrams.
"""

import sys
from pathlib import Path

from gateway.domain import (
    chase_up_states,
    delivery_states,
    notification_states,
    webhook_send_states,
)
from gateway.domain.state_machine import diagram_in, with_diagram


def diagrams() -> dict[str, str]:
    """Each machine's name and its Mermaid diagram."""
    machines = (
        delivery_states.MACHINE,
        chase_up_states.MACHINE,
        notification_states.MACHINE,
        webhook_send_states.MACHINE,
    )
    return {m.name: m.mermaid() for m in machines}


def stale_in(document: str) -> list[str]:
    """The machines whose diagram in `document` is missing or differs from the table."""
    return [name for name, drawn in diagrams().items() if diagram_in(document, name) != drawn]


def rewritten(document: str) -> str:
    for name, drawn in diagrams().items():
        document = with_diagram(document, name, drawn)
    return document


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/ARCHITECTURE.md")
    path.write_text(rewritten(path.read_text()))
