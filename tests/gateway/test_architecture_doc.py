"""docs/ARCHITECTURE.md shows the state machines as their tables are."""

from pathlib import Path

from gateway.domain import delivery_states, notification_states
from gateway.domain.machine_docs import diagrams, rewritten, stale_in
from gateway.domain.state_machine import diagram_in

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "ARCHITECTURE.md"


def test_the_diagrams_in_the_architecture_doc_are_the_tables() -> None:
    assert stale_in(DOCUMENT.read_text()) == [], (
        "docs/ARCHITECTURE.md is out of date: run "
        "`.venv/bin/python -m gateway.domain.machine_docs docs/ARCHITECTURE.md`"
    )


def test_a_changed_table_makes_the_doc_stale_and_rewriting_fixes_it() -> None:
    old = DOCUMENT.read_text().replace("dead --> replayed : replay", "dead --> replayed : again")
    assert stale_in(old) == ["delivery"]
    assert stale_in(rewritten(old)) == []
    assert diagram_in(rewritten(old), "delivery") == delivery_states.MACHINE.mermaid()


def test_every_machine_has_a_diagram_in_the_doc() -> None:
    assert set(diagrams()) == {"delivery", "chase-up", "notification", "webhook-send"}


def test_a_changed_notification_table_makes_the_doc_stale() -> None:
    old = DOCUMENT.read_text().replace("held --> sending : batch", "held --> sending : digest")
    assert stale_in(old) == ["notification"]
    assert diagram_in(rewritten(old), "notification") == notification_states.MACHINE.mermaid()
