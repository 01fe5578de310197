"""The recommendation lifecycle: states, allowed transitions, and the event each emits.

A transition not in the table is refused: a stale or out-of-order update is recorded
in the timeline as refused and never applied.
"""

from dataclasses import dataclass
from typing import Final

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
    "cancelled",
    "delivery-failed",
)

TERMINAL: Final = frozenset({"rejected", "collected", "cancelled"})

# GP-side outcomes the practice can report once it holds the request. A GP may report a
# later step before Liaison saw an earlier one (a poll can miss a short-lived state).
_AT_PRACTICE: Final = frozenset(
    {"accepted", "rejected", "appointment-needed", "prescription-issued", "ready-to-collect"}
)

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "received": frozenset({"queued", "delivered", "cancelled", "delivery-failed"}),
    "queued": frozenset({"delivered", "cancelled", "delivery-failed"}) | _AT_PRACTICE,
    "delivered": _AT_PRACTICE | {"cancelled"},
    "accepted": frozenset(
        {"prescription-issued", "ready-to-collect", "appointment-needed", "rejected", "cancelled"}
    ),
    "appointment-needed": frozenset(
        {"accepted", "prescription-issued", "ready-to-collect", "rejected", "cancelled"}
    ),
    "prescription-issued": frozenset({"ready-to-collect", "collected", "cancelled"}),
    "ready-to-collect": frozenset({"collected"}),
    "delivery-failed": frozenset({"queued", "delivered", "cancelled"}),
    "rejected": frozenset(),
    "collected": frozenset(),
    "cancelled": frozenset(),
}

# Statuses in which Liaison still expects news from the practice (so it polls).
AWAITING_PRACTICE: Final = (
    "queued",
    "delivered",
    "accepted",
    "appointment-needed",
    "prescription-issued",
    "ready-to-collect",
)


@dataclass(frozen=True)
class Decision:
    applied: bool
    reason: str | None = None


def decide(current: str, target: str) -> Decision:
    """Whether `current -> target` may happen. Repeating the current status is a no-op."""
    if target not in TRANSITIONS:
        return Decision(False, f"unknown status {target!r}")
    if current == target:
        return Decision(False, "already in this status")
    if target in TRANSITIONS.get(current, frozenset()):
        return Decision(True)
    return Decision(False, f"{current} -> {target} is not an allowed transition")
