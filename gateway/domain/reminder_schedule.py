"""Reminders that follow the plan: pure computation of what is due, for whom, and when.

Inputs are the agreed plan (quit date, medicine kind, course start and supply length), an
optional appointment time, and the reminder settings; the output is a list of events, each
with a stable key so the notification store's once-per-event-per-recipient rule holds even
when the task computing them runs twice. Nothing here sends anything.

Quiet hours: a reminder never falls between `quiet_start` and `quiet_end` (UK local time);
one that would is moved to `quiet_end` the same or next morning. The default (21:00-08:00)
is a conservative choice a practitioner's settings can change.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from fhir_profiles.catalogue import COURSE_MILESTONES, Kind

UK: Final = ZoneInfo("Europe/London")

Recipient = Literal["service-user", "named-person", "practitioner"]
KINDS: Final = ("appointment", "quit-date", "milestone", "supply", "follow-up")
ReminderKind = Literal["appointment", "quit-date", "milestone", "supply", "follow-up"]

# A reminder found more than this late (a worker down for a day, a plan set after the event)
# is skipped, not sent: "your appointment is tomorrow" on the day after would mislead.
GRACE: Final = timedelta(hours=12)

# Statuses that end a recommendation without treatment: no plan reminder or follow-up is
# raised, and one already waiting is not sent (gateway.domain.supersession). A collected
# prescription does not end the plan: the quit date and the course follow collection.
PLAN_ENDED_IN: Final = frozenset(
    {"cancelled", "rejected", "delivery-failed", "identity-mismatch", "no-usable-practice"}
)

# The event kind (gateway.domain.events) of each reminder, and the setting that governs it.
KIND_OF_EVENT: Final[dict[str, ReminderKind]] = {
    "plan-appointment-day-before": "appointment",
    "plan-appointment-morning": "appointment",
    "plan-quit-date": "quit-date",
    "plan-course-start": "milestone",
    "plan-dose-step": "milestone",
    "plan-supply-ending": "supply",
    "plan-supply-request": "supply",
    "follow-up-week": "follow-up",
}


@dataclass(frozen=True)
class Plan:
    quit_date: date | None = None
    medicine: Kind | None = None
    course_start: date | None = None
    supply_days: int | None = None
    appointment_at: datetime | None = None  # seam: the booking's appointment time


@dataclass(frozen=True)
class ReminderSettings:
    """What the practitioner set with PUT /v1/recommendations/{id}/reminders; defaults on."""

    enabled: bool = True
    kinds: frozenset[str] = field(default_factory=lambda: frozenset(KINDS))
    service_user_consent: bool = True
    copy_consent: bool = False  # a named person gets copies only with explicit consent
    morning: time = time(9, 0)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    supply_warning_days: int = 7
    follow_up_weeks: tuple[int, ...] = (4, 12)


@dataclass(frozen=True)
class Due:
    event: str
    recipient: Recipient
    at: datetime


def out_of_quiet_hours(at: datetime, settings: ReminderSettings) -> datetime:
    local = at.astimezone(UK)
    clock = local.time()
    if settings.quiet_start <= clock or clock < settings.quiet_end:
        day = local.date() if clock < settings.quiet_end else local.date() + timedelta(days=1)
        return datetime.combine(day, settings.quiet_end, tzinfo=UK)
    return local


def _morning(day: date, settings: ReminderSettings) -> datetime:
    return out_of_quiet_hours(datetime.combine(day, settings.morning, tzinfo=UK), settings)


def _service_user_events(plan: Plan, s: ReminderSettings) -> list[tuple[str, datetime]]:
    events: list[tuple[str, datetime]] = []
    if "appointment" in s.kinds and plan.appointment_at is not None:
        day = plan.appointment_at.astimezone(UK).date()
        events.append(("plan-appointment-day-before", _morning(day - timedelta(days=1), s)))
        events.append(("plan-appointment-morning", _morning(day, s)))
    if "quit-date" in s.kinds and plan.quit_date is not None:
        events.append(("plan-quit-date", _morning(plan.quit_date, s)))
    if "milestone" in s.kinds and plan.medicine and plan.course_start is not None:
        for step in COURSE_MILESTONES[plan.medicine]:
            day = plan.course_start + timedelta(days=step.day - 1)
            events.append((f"plan-{step.key}", _morning(day, s)))
    if "supply" in s.kinds and plan.course_start is not None and plan.supply_days:
        ends = plan.course_start + timedelta(days=plan.supply_days)
        warn = ends - timedelta(days=min(s.supply_warning_days, plan.supply_days))
        events.append(("plan-supply-ending", _morning(warn, s)))
    return events


def schedule(plan: Plan, settings: ReminderSettings, *, has_copy: bool) -> list[Due]:
    """Every reminder and follow-up the plan calls for, sorted by time."""
    if not settings.enabled:
        return []
    due: list[Due] = []
    if settings.service_user_consent:
        for event, at in _service_user_events(plan, settings):
            due.append(Due(event, "service-user", at))
            if has_copy and settings.copy_consent:
                due.append(Due(event, "named-person", at))
    if "follow-up" in settings.kinds and plan.quit_date is not None:
        for weeks in settings.follow_up_weeks:
            day = plan.quit_date + timedelta(weeks=weeks)
            due.append(Due(f"follow-up-week-{weeks}", "practitioner", _morning(day, settings)))
    if "supply" in settings.kinds and plan.course_start is not None and plan.supply_days:
        # The practice is asked for the next supply at the same time the service user hears.
        for d in [d for d in due if d.event == "plan-supply-ending"][:1]:
            due.append(Due("plan-supply-request", "practitioner", d.at))
    return sorted(due, key=lambda d: (d.at, d.event, d.recipient))


def due_now(
    plan: Plan, settings: ReminderSettings, *, has_copy: bool, now: datetime, ended: bool
) -> list[Due]:
    """What to raise now; nothing once the recommendation has ended (it stops at once), and
    nothing more than `GRACE` late."""
    if ended:
        return []
    return [d for d in schedule(plan, settings, has_copy=has_copy) if now - GRACE < d.at <= now]


def withdrawn_because(kind: str, recipient: str, settings: ReminderSettings) -> str | None:
    """Why a waiting reminder of `kind` to `recipient` must not go under the plan as it stands
    now (the practitioner turned it off, the service user opted out, consent to copies was
    withdrawn); None when it may go. Checked at the moment of sending."""
    governed_by = KIND_OF_EVENT.get(kind)
    if governed_by is None:
        return None
    if not settings.enabled:
        return "the practitioner turned reminders off"
    if governed_by not in settings.kinds:
        return f"the practitioner turned {governed_by} reminders off"
    if recipient in ("service-user", "named-person") and not settings.service_user_consent:
        return "the service user opted out of reminders"
    if recipient == "named-person" and not settings.copy_consent:
        return "the service user withdrew consent to copies"
    return None


# Endings without a prescription, after which the practitioner is prompted to try again.
ENDED_WITHOUT_PRESCRIPTION: Final = frozenset({"rejected", "expired", "did-not-attend"})


TRY_AGAIN: Final = "try-again"


def try_again_prompt(status: str, *, ended_at: datetime, after: timedelta) -> Due | None:
    """The practitioner's "try again" prompt, `after` an ending without a prescription. A
    recommendation ends once, so one event per recommendation keeps it to one prompt."""
    if status not in ENDED_WITHOUT_PRESCRIPTION:
        return None
    return Due(TRY_AGAIN, "practitioner", ended_at + after)
