"""Booking the appointment a practice asks for: which states allow what, what the practice is
told, and what its Appointment status means. Pure rules.

GP Connect Appointment Management (github.com/nhsconnect/gpconnect, pages/appointments/):
the booking's `description` (at most 100 characters) and `comment` (at most 500) may be seen
by whoever sees the appointment (the patient's own NHS App included), and `reason` must not
be sent. So they say only that the care team asked for it and which request it belongs to:
what the recommendation is about the practice already has, in the request Liaison delivered.
"""

from datetime import datetime, timedelta
from typing import Final, Literal

# A slot can be booked while the practice waits to see the patient, and again after a
# missed appointment; a booking can be cancelled, or its outcome recorded, while it stands.
BOOKABLE_IN: Final = frozenset({"appointment-needed", "did-not-attend"})
BOOKED: Final = "appointment-booked"
# How far ahead slots are offered by default, and the most one search may cover (the
# specification's two weeks).
DEFAULT_WINDOW: Final = timedelta(days=7)
MAX_WINDOW: Final = timedelta(days=14)

Outcome = Literal["attended", "did-not-attend", "cancelled"]

# STU3 appointmentstatus (http://hl7.org/fhir/STU3/valueset-appointmentstatus.html):
# "arrived" (the patient has arrived) and "fulfilled" (the appointment took place) both mean
# they came; "noshow" that they did not; "cancelled" / "entered-in-error" that it is off.
_OUTCOMES: Final[dict[str, Outcome]] = {
    "arrived": "attended",
    "fulfilled": "attended",
    "noshow": "did-not-attend",
    "cancelled": "cancelled",
    "entered-in-error": "cancelled",
}


def outcome_of(appointment_status: str) -> Outcome | None:
    """What the practice's Appointment status says happened; None while it is still booked."""
    return _OUTCOMES.get(appointment_status)


def description() -> str:
    return "Appointment requested by the patient's care team"


def comment(recommendation_id: str, organisation_ods: str) -> str:
    return (
        f"Booked through Liaison by {organisation_ods} for request {recommendation_id}. "
        "The practice has the request and its details."
    )


def cancellation_reason() -> str:
    return "Cancelled by the patient's care team"


def window_problem(start: datetime, end: datetime, *, now: datetime) -> tuple[str, str] | None:
    """(field, why) when slots cannot be searched in [start, end], or None."""
    if start.tzinfo is None:
        return "start", "needs a timezone offset"
    if end.tzinfo is None:
        return "end", "needs a timezone offset"
    if end <= start:
        return "end", "must be after start"
    if end - start > MAX_WINDOW:
        return "end", "the window may cover at most 14 days (GP Connect's limit)"
    if end <= now:
        return "end", "the window has passed: only future slots can be booked"
    return None
