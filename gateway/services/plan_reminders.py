"""Raising the reminders and follow-ups a plan calls for.

The schedule itself is pure (gateway.domain.reminder_schedule); this module reads the
stored plan and the booked appointment, asks the schedule what is due now, and records each
due event once (gateway.services.status_updates.record_event: the notification store's unique
(recommendation, event, recipient) key makes a second run, or a second worker, a no-op).
The notify tasks then send them, checking again at the moment of sending that the plan still
allows each one (`withdrawal`).

A booked appointment is reminded even without a stored plan: the service user agreed to
messages when the recommendation was made, and the appointment is the step that "just
didn't happen" without one (the study behind this feature).

The caller commits.
"""

from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import cast

from fhir_profiles.catalogue import Kind
from gateway.domain.audience import NamedPerson, event_kind
from gateway.domain.chase_policy import CHASED_STATUS
from gateway.domain.expiry import ExpiryPolicy
from gateway.domain.reminder_schedule import (
    GRACE,
    KIND_OF_EVENT,
    KINDS,
    PLAN_ENDED_IN,
    TRY_AGAIN,
    Plan,
    ReminderSettings,
    due_now,
    stopped_because,
    withdrawn_because,
)
from gateway.reminder_settings import ReminderDefaults
from gateway.services.reengagement import is_expired, successor_of
from gateway.services.status_updates import record_event
from gateway.store.appointment_models import Appointment
from gateway.store.models import Recommendation
from gateway.store.ports import UnitOfWorkPort
from gateway.store.reminder_models import ReminderPlan

# The try-again prompt follows these endings, and an expiry (a reading, not a status).
_ENDINGS = ("rejected", "did-not-attend")
COLLECTION_REMINDER = "collection-reminder"
# A booked appointment is looked at from this long before it starts (the day-before reminder).
_APPOINTMENT_LOOKAHEAD = timedelta(days=2)


def settings_of(
    plan: ReminderPlan | None,
    defaults: ReminderDefaults,
    *,
    quiet_start: time,
    quiet_end: time,
) -> ReminderSettings:
    """The plan's settings over the deployment's defaults; no plan: appointments only."""
    base = ReminderSettings(
        morning=defaults.morning,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        supply_warning_days=defaults.supply_warning_days,
        follow_up_weeks=defaults.follow_up_weeks,
    )
    if plan is None:
        return replace(base, kinds=frozenset({"appointment"}))
    return replace(
        base,
        enabled=plan.enabled,
        kinds=frozenset(plan.kinds.get("kinds", KINDS)),
        service_user_consent=plan.service_user_consent,
        copy_consent=plan.copy_consent,
        morning=time.fromisoformat(plan.morning),
    )


def named_person_of(plan: ReminderPlan | None) -> NamedPerson | None:
    if plan is None or not plan.named_person:
        return None
    named = plan.named_person
    return NamedPerson(str(named["channel"]), str(named["address"]), plan.copy_consent)


def plan_of(row: ReminderPlan | None, appointment: Appointment | None) -> Plan:
    at = appointment.start_at if appointment is not None else None
    if row is None:
        return Plan(appointment_at=at)
    return Plan(
        quit_date=row.quit_date,
        # Checked against the catalogue's kinds when the plan was set (gateway.api.v1.reminders).
        medicine=cast("Kind | None", row.medicine),
        course_start=row.course_start,
        supply_days=row.supply_days,
        appointment_at=at,
    )


def booked_appointment(
    uow: UnitOfWorkPort, recommendation: Recommendation
) -> tuple[Appointment | None, int]:
    """The appointment that stands, and its number among this recommendation's bookings: a
    re-booking after a missed one gets reminders of its own."""
    if recommendation.status != "appointment-booked":
        return None, 0
    current = uow.appointments.current(recommendation.id)
    if current is None or current.state != "booked":
        return None, 0
    return current, len(uow.appointments.for_recommendation(recommendation.id))


def _raise_for(
    uow: UnitOfWorkPort,
    recommendation: Recommendation,
    row: ReminderPlan | None,
    *,
    now: datetime,
    defaults: ReminderDefaults,
    quiet: tuple[time, time],
) -> int:
    appointment, number = booked_appointment(uow, recommendation)
    settings = settings_of(row, defaults, quiet_start=quiet[0], quiet_end=quiet[1])
    named = named_person_of(row)
    due = due_now(
        plan_of(row, appointment),
        settings,
        has_copy=named is not None,
        now=now,
        ended=recommendation.status in PLAN_ENDED_IN,
    )
    raised = 0
    # One event per due reminder: record_event writes a row for each of its recipients.
    for event in dict.fromkeys(d.event for d in due):
        if KIND_OF_EVENT.get(event_kind(event)) == "appointment":
            event = f"{event}-{number}"
        if record_event(uow, recommendation, event, now=now, named_person=named):
            raised += 1
    return raised


def raise_plan_reminders(
    uow: UnitOfWorkPort, *, now: datetime, defaults: ReminderDefaults, quiet: tuple[time, time]
) -> int:
    """Record every plan reminder and follow-up due now; the caller commits. Returns how many
    events were newly recorded."""
    raised = 0
    seen: set[str] = set()
    for row in uow.reminder_plans.enabled():
        recommendation = uow.recommendations.get(row.recommendation_id)
        if recommendation is None:
            continue
        seen.add(recommendation.id)
        raised += _raise_for(uow, recommendation, row, now=now, defaults=defaults, quiet=quiet)
    for appointment in uow.appointments.booked_starting(now - GRACE, now + _APPOINTMENT_LOOKAHEAD):
        if appointment.recommendation_id in seen or uow.reminder_plans.get(
            appointment.recommendation_id
        ):
            continue  # a plan of its own governs it (a disabled plan: nothing at all)
        recommendation = uow.recommendations.get(appointment.recommendation_id)
        if recommendation is not None:
            raised += _raise_for(uow, recommendation, None, now=now, defaults=defaults, quiet=quiet)
    return raised


def raise_try_again_prompts(
    uow: UnitOfWorkPort,
    *,
    now: datetime,
    after: timedelta,
    expiry: ExpiryPolicy,
    batch: int = 500,
) -> int:
    """Prompt the practitioner `after` a recommendation ended without a prescription and was
    not re-opened: rejected, did-not-attend, or expired (left uncollected, or the practice
    silent through every chase-up). Endings older than `after` + a week are not looked at
    again: the prompt was raised then, or the recommendation was re-opened."""
    ended = [
        e.recommendation_id
        for e in uow.follow_ups.ended_between(
            _ENDINGS, after=now - after - timedelta(days=7), before=now - after, limit=batch
        )
    ]
    # Expired is a reading, not a status: expired already `after` ago.
    waiting = [w.recommendation_id for w in uow.follow_ups.awaiting_collection(limit=batch)]
    waiting += [
        w.recommendation_id
        for w in uow.follow_ups.awaiting_practice(status=CHASED_STATUS, limit=batch)
    ]
    raised = 0
    for recommendation_id in [*ended, *waiting]:
        recommendation = uow.recommendations.get(recommendation_id)
        assert recommendation is not None
        if recommendation.status not in _ENDINGS and (
            not is_expired(uow, recommendation, now=now - after, policy=expiry)
            or successor_of(uow, recommendation.id) is not None
        ):
            continue
        if record_event(uow, recommendation, TRY_AGAIN, now=now):
            raised += 1
    return raised


def withdrawal(
    uow: UnitOfWorkPort,
    recommendation_id: str,
    event: str,
    recipient: str,
    defaults: ReminderDefaults,
) -> str | None:
    """Why a waiting plan reminder must not go under the plan as it stands now; None when it
    may (or when `event` is not a plan reminder). Checked at the moment of sending."""
    kind = event_kind(event)
    if kind == COLLECTION_REMINDER:
        # An opt-out, or reminders turned off, stops the collection reminders too.
        row = uow.reminder_plans.get(recommendation_id)
        if row is None or recipient != "service-user":
            return None
        settings = settings_of(row, defaults, quiet_start=time(0), quiet_end=time(0))
        return stopped_because(recipient, settings)
    if kind not in KIND_OF_EVENT:
        return None
    row = uow.reminder_plans.get(recommendation_id)
    if row is None:
        if KIND_OF_EVENT[kind] == "appointment" and recipient != "named-person":
            return None
        return "the reminder plan was removed"
    if recipient == "named-person" and named_person_of(row) is None:
        return "the plan names no one for copies now"
    settings = settings_of(row, defaults, quiet_start=time(0), quiet_end=time(0))
    return withdrawn_because(kind, recipient, settings)
