"""The recommendation lifecycle: one table of every allowed transition and the event it emits.

A transition not in the table is refused: a stale or out-of-order update (a poll that
arrives late, `collected` -> `accepted`) is recorded in the timeline as refused and never
applied. Polls, signed callbacks, the practice inbox, delivery outcomes, replays and the
practitioner's own actions all go through `decide`.

`docs/LIFECYCLE.md` shows the table as a Mermaid diagram produced by `mermaid()`; a test
fails if the two differ (`python -m gateway.domain.lifecycle` rewrites the diagram).
"""

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.domain.state_machine import Verdict

# The public status words (the REST contract in openapi.yaml). "Expired" is not a status:
# it is derived (gateway.services.reengagement) so the public set stays as designed.
STATUSES: Final = (
    "received",
    "queued",
    "delivered",
    "accepted",
    "rejected",
    "appointment-needed",
    "prescription-issued",
    "ready-to-collect",
    "collected",
    "not-dispensed",
    "cancelled",
    "delivery-failed",
    # Stopped before anything left, after asking PDS and ODS (gateway.domain.registration):
    # the identity given does not match PDS (nothing is sent about the wrong person), or
    # there is no practice to send to (deceased, restricted record, closed practice...).
    "identity-mismatch",
    "no-usable-practice",
    # GP Connect Appointment Management (gateway.domain.booking): Liaison booked the
    # appointment the practice asked for; the practice (or the practitioner) then says
    # whether the service user came.
    "appointment-booked",
    "attended",
    "did-not-attend",
)


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    event: str  # what listeners hear (gateway.domain.audience decides who)


# fmt: off
TABLE: Final = tuple(Transition(*row) for row in (
    # from                  to                      event
    ("received",            "queued",               "queued"),
    ("received",            "delivered",            "delivered"),
    ("received",            "delivery-failed",      "delivery-failed"),
    ("received",            "cancelled",            "cancelled"),
    ("queued",              "delivered",            "delivered"),
    ("queued",              "delivery-failed",      "delivery-failed"),
    ("queued",              "cancelled",            "cancelled"),
    # A practice can answer before Liaison records the delivery (a slow receipt).
    ("queued",              "accepted",             "accepted"),
    ("queued",              "rejected",             "rejected"),
    ("queued",              "appointment-needed",   "appointment-needed"),
    ("queued",              "prescription-issued",  "prescription-issued"),
    ("queued",              "ready-to-collect",     "ready-to-collect"),
    ("delivered",           "accepted",             "accepted"),
    ("delivered",           "rejected",             "rejected"),
    ("delivered",           "appointment-needed",   "appointment-needed"),
    # A poll can miss a short-lived state, so later steps may arrive first.
    ("delivered",           "prescription-issued",  "prescription-issued"),
    ("delivered",           "ready-to-collect",     "ready-to-collect"),
    ("delivered",           "cancelled",            "cancelled"),
    ("accepted",            "appointment-needed",   "appointment-needed"),
    ("accepted",            "prescription-issued",  "prescription-issued"),
    ("accepted",            "ready-to-collect",     "ready-to-collect"),
    ("accepted",            "rejected",             "rejected"),
    ("accepted",            "cancelled",            "cancelled"),
    ("appointment-needed",  "accepted",             "accepted"),
    ("appointment-needed",  "prescription-issued",  "prescription-issued"),
    ("appointment-needed",  "ready-to-collect",     "ready-to-collect"),
    ("appointment-needed",  "rejected",             "rejected"),
    ("appointment-needed",  "cancelled",            "cancelled"),
    ("prescription-issued", "ready-to-collect",     "ready-to-collect"),
    ("prescription-issued", "collected",            "collected"),
    ("prescription-issued", "cancelled",            "cancelled"),
    ("ready-to-collect",    "collected",            "collected"),
    # A practice that was down or failing while the prescription was ready is next seen
    # with it collected: refusing that would leave the recommendation waiting for ever, as
    # the poll's cursor has moved past the update.
    ("queued",              "collected",            "collected"),
    ("delivered",           "collected",            "collected"),
    ("accepted",            "collected",            "collected"),
    ("appointment-needed",  "collected",            "collected"),
    # Withdrawn by the practitioner, or closed as expired when re-opened.
    ("ready-to-collect",    "cancelled",            "cancelled"),
    # The pharmacy could not supply it (Prescription Status Update "Not Dispensed"). The
    # practice may issue again, another pharmacy may supply it, or the practitioner withdraws.
    ("prescription-issued", "not-dispensed",        "not-dispensed"),
    ("ready-to-collect",    "not-dispensed",        "not-dispensed"),
    ("not-dispensed",       "prescription-issued",  "prescription-issued"),
    ("not-dispensed",       "ready-to-collect",     "ready-to-collect"),
    ("not-dispensed",       "collected",            "collected"),
    ("not-dispensed",       "cancelled",            "cancelled"),
    # An integration engineer's replay, or a late receipt from the practice.
    ("delivery-failed",     "queued",               "requeued"),
    ("delivery-failed",     "delivered",            "delivered"),
    ("delivery-failed",     "cancelled",            "cancelled"),
    # The worker asks PDS before the first delivery: it may stop there.
    ("received",            "identity-mismatch",    "identity-mismatch"),
    ("queued",              "identity-mismatch",    "identity-mismatch"),
    ("received",            "no-usable-practice",   "no-usable-practice"),
    ("queued",              "no-usable-practice",   "no-usable-practice"),
    # Booking the appointment the practice asked for; cancelling it asks for one again.
    ("appointment-needed",  "appointment-booked",   "appointment-booked"),
    ("appointment-booked",  "appointment-needed",   "appointment-cancelled"),
    ("appointment-booked",  "attended",             "attended"),
    ("appointment-booked",  "did-not-attend",       "did-not-attend"),
    ("did-not-attend",      "appointment-booked",   "appointment-booked"),
    ("did-not-attend",      "appointment-needed",   "appointment-cancelled"),
    # After the appointment (or before it, if the practice acts first) the request goes on.
    ("appointment-booked",  "accepted",             "accepted"),
    ("appointment-booked",  "rejected",             "rejected"),
    ("appointment-booked",  "prescription-issued",  "prescription-issued"),
    ("appointment-booked",  "ready-to-collect",     "ready-to-collect"),
    ("appointment-booked",  "collected",            "collected"),
    ("appointment-booked",  "cancelled",            "cancelled"),
    ("attended",            "accepted",             "accepted"),
    ("attended",            "rejected",             "rejected"),
    ("attended",            "prescription-issued",  "prescription-issued"),
    ("attended",            "ready-to-collect",     "ready-to-collect"),
    ("attended",            "collected",            "collected"),
    ("attended",            "cancelled",            "cancelled"),
    ("did-not-attend",      "accepted",             "accepted"),
    ("did-not-attend",      "rejected",             "rejected"),
    ("did-not-attend",      "prescription-issued",  "prescription-issued"),
    ("did-not-attend",      "ready-to-collect",     "ready-to-collect"),
    ("did-not-attend",      "collected",            "collected"),
    ("did-not-attend",      "cancelled",            "cancelled"),
))
# fmt: on

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    status: frozenset(t.target for t in TABLE if t.source == status) for status in STATUSES
}
_EVENTS: Final = {(t.source, t.target): t.event for t in TABLE}

# No transition leaves these.
TERMINAL: Final = frozenset(s for s, targets in TRANSITIONS.items() if not targets)

# Statuses in which Liaison still expects news from the practice (so it polls).
AWAITING_PRACTICE: Final = (
    "queued",
    "delivered",
    "accepted",
    "appointment-needed",
    "prescription-issued",
    "ready-to-collect",
    "not-dispensed",
    "appointment-booked",
    "attended",
    "did-not-attend",
)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str | None = None  # set when refused or unchanged
    event: str | None = None  # set when applied

    @property
    def applied(self) -> bool:
        return self.verdict is Verdict.APPLIED


def decide(current: str, target: str) -> Decision:
    """Whether `current -> target` may happen. Repeating the current status is a no-op."""
    if target not in TRANSITIONS:
        return Decision(Verdict.REFUSED, f"unknown status {target!r}")
    if current == target:
        return Decision(Verdict.UNCHANGED, "already in this status")
    event = _EVENTS.get((current, target))
    if event is None:
        return Decision(Verdict.REFUSED, f"{current} -> {target} is not an allowed transition")
    return Decision(Verdict.APPLIED, event=event)


def _node(status: str) -> str:
    return status.replace("-", "_")


def mermaid() -> str:
    """The table as a Mermaid state diagram, one edge per transition labelled with its event."""
    # Mermaid state ids cannot hold "-": declare each status word under a safe id.
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{s}" as {_node(s)}' for s in STATUSES if s != _node(s)]
    lines.append("    [*] --> received")
    for t in TABLE:
        # An edge emits the event named after its target unless it is labelled.
        label = "" if t.event == t.target else f" : {t.event}"
        lines.append(f"    {_node(t.source)} --> {_node(t.target)}{label}")
    lines += [f"    {_node(s)} --> [*]" for s in STATUSES if s in TERMINAL]
    return "\n".join(lines)


_BLOCK = re.compile(
    r"(<!-- lifecycle:begin -->\n```mermaid\n)(.*?)(\n```\n<!-- lifecycle:end -->)", re.S
)


def diagram_in(document: str) -> str | None:
    """The generated diagram inside `document`, or None if its markers are missing."""
    found = _BLOCK.search(document)
    return found.group(2) if found else None


def with_diagram(document: str) -> str:
    """`document` with the diagram between its markers replaced by the current table's."""
    if diagram_in(document) is None:
        raise ValueError("no <!-- lifecycle:begin --> ... <!-- lifecycle:end --> block")
    return _BLOCK.sub(lambda m: m.group(1) + mermaid() + m.group(3), document)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/LIFECYCLE.md")
    path.write_text(with_diagram(path.read_text()))
