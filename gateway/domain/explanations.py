"""One sentence saying where a message stands, for people rather than programs.

The API's `explanation` on each notification, `liaison demo` and the practitioner's email
use these words, so a text held back by quiet hours reads the same everywhere: "SMS to the
service user held until 08:00 (quiet hours)". Pure: the caller gives the clock and the
quiet hours. Only channel, recipient, status and times appear; never an address or name.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from gateway.domain.audience import UK, QuietHours, must_wait_for_morning

_CHANNELS: Final = {"sms": "SMS", "email": "Email", "webhook": "Webhook"}
_RECIPIENTS: Final = {
    "service-user": "the service user",
    "practitioner": "the practitioner",
    "care-team": "the care team",
    "case-management": "the case-management app",
}


@dataclass(frozen=True)
class MessageState:
    """What the store knows of one notification (no address, no wording)."""

    recipient: str
    channel: str
    status: str
    not_before: datetime | None = None
    # Why it was suppressed or superseded (Liaison's own words, never personal data).
    reason: str | None = None
    # A send failed and it waits to retry (the provider's words are not repeated).
    failed_before: bool = False
    sent_at: datetime | None = None
    member: int | None = None


def clock(moment: datetime) -> str:
    """UK wall-clock time, "08:00": quiet hours and digests are set in UK time."""
    return f"{moment.astimezone(UK):%H:%M}"


def held_for_quiet_hours(
    state: MessageState, *, now: datetime, quiet: QuietHours
) -> datetime | None:
    """When a text held back by quiet hours will go, or None when it is not so held. A
    text not yet picked up by a worker counts too: it will be held the moment it is."""
    if state.status != "pending" or state.failed_before:
        return None
    if not must_wait_for_morning(state.recipient, state.channel):
        return None
    if state.not_before is not None:
        return state.not_before if state.not_before > now else None
    allowed = quiet.next_allowed(now)
    return allowed if allowed > now else None


def _whom(state: MessageState) -> str:
    whom = _RECIPIENTS.get(state.recipient, state.recipient)
    if state.recipient == "care-team" and state.member is not None:
        whom = f"care team member {state.member + 1}"
    return f"{_CHANNELS.get(state.channel, state.channel)} to {whom}"


def explain(state: MessageState, *, now: datetime, quiet: QuietHours) -> str:
    """ "SMS to the service user held until 08:00 (quiet hours)", "Email to the practitioner
    sent at 21:04", "... not sent: service user did not consent"."""
    what = _whom(state)
    if (until := held_for_quiet_hours(state, now=now, quiet=quiet)) is not None:
        return f"{what} held until {clock(until)} (quiet hours)"
    if state.status == "sent":
        return f"{what} sent" + (f" at {clock(state.sent_at)}" if state.sent_at else "")
    if state.status == "held":
        at = f" at {clock(state.not_before)}" if state.not_before else ""
        return f"{what} held for the practitioner's daily summary{at}"
    if state.status in ("suppressed", "superseded"):
        return f"{what} not sent: {state.reason or 'no longer needed'}"
    if state.status == "failed":
        return f"{what} could not be sent; the integration team can see why"
    if state.failed_before and state.not_before is not None:
        return f"{what} not sent yet: the last try failed, next try at {clock(state.not_before)}"
    return f"{what} being sent"


TOLD: Final = {
    "ready-to-collect": "The service user has been told",
    "appointment-needed": "The service user has been asked to book an appointment",
    "not-dispensed": "The service user has been told the pharmacy could not supply it",
    "appointment-booked": "The service user has been sent the time and place",
}


def told_service_user(
    kind: str, state: MessageState | None, *, now: datetime, quiet: QuietHours
) -> str | None:
    """The practitioner's sentence about the service user's own message on the same event,
    true at the moment the email goes. None: the event's usual words apply."""
    told = TOLD.get(kind)
    if told is None or state is None:
        return None
    if (until := held_for_quiet_hours(state, now=now, quiet=quiet)) is not None:
        return (
            f"{_whom(state)} held until {clock(until)} (quiet hours): they have not been told yet."
        )
    if state.status == "suppressed":
        return f"The service user has not been sent a message ({state.reason or 'not allowed'})."
    if state.status == "superseded":
        return "The service user was not sent a message: it no longer held."
    if state.status == "failed":
        return "The message to the service user could not be sent; the integration team can see it."
    by = _CHANNELS.get(state.channel, state.channel)
    if state.status == "sent":
        return f"{told} by {by}."
    return f"{told} (the {by} is on its way)."
