"""The plan-reminder and collection-reminder rules over the in-memory unit of work: what is
raised, for whom, once, and what a changed plan withdraws. The same rules run end to end,
through the notify task and the peers, in tests/workers/test_plan_reminders.py."""

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from gateway.reminder_settings import ReminderDefaults
from gateway.services.plan_reminders import raise_plan_reminders, withdrawal
from gateway.services.reminders import PREFIX, ReminderPolicy, send_due_reminders
from gateway.services.status_updates import record_event
from gateway.store.models import WebhookSubscription
from tests.fakes import FakeUnitOfWork
from tests.gateway.reminder_samples import (
    COPY_MOBILE,
    ORG,
    QUIT,
    appointment,
    at,
    plan,
    ready_event,
    recommendation,
)

DEFAULTS = ReminderDefaults()
NO_QUIET = (time(0), time(0))
PERSON = {"role": "carer", "channel": "sms", "address": COPY_MOBILE}


def _raise(uow: FakeUnitOfWork, now: datetime) -> int:
    return raise_plan_reminders(uow, now=now, defaults=DEFAULTS, quiet=NO_QUIET)


def _rows(uow: FakeUnitOfWork, rec_id: str, prefix: str = "") -> list[tuple[str, str, str]]:
    return sorted(
        (n.event, n.recipient, n.status)
        for n in uow.notifications.for_recommendation(rec_id)
        if n.event.startswith(prefix)
    )


@pytest.fixture
def uow() -> FakeUnitOfWork:
    store = FakeUnitOfWork()
    store.recommendations.add(recommendation("r1", "prescription-issued"))
    store.commit()
    store.committed = False
    return store


def test_the_quit_date_is_raised_once_for_the_service_user_however_often_it_runs(
    uow: FakeUnitOfWork,
) -> None:
    uow.reminder_plans.put(plan("r1"))
    assert _raise(uow, at(QUIT)) == 1
    assert _raise(uow, at(QUIT, 10)) == 0
    assert _rows(uow, "r1", "plan-") == [("plan-quit-date", "service-user", "pending")]
    # Only what is sent is queued for the notify task: one message, one outbox row.
    assert [kind for kind, _ in uow.outbox.messages] == ["notify"]
    assert not uow.committed  # the caller commits


def test_nothing_is_raised_before_the_quit_date_or_for_a_disabled_plan(
    uow: FakeUnitOfWork,
) -> None:
    uow.reminder_plans.put(plan("r1"))
    assert _raise(uow, at(QUIT - timedelta(days=1))) == 0
    uow.reminder_plans.put(plan("r1", enabled=False))
    assert _raise(uow, at(QUIT)) == 0
    assert _rows(uow, "r1") == []


def test_nothing_is_raised_once_the_recommendation_is_cancelled(uow: FakeUnitOfWork) -> None:
    uow.reminder_plans.put(plan("r1"))
    found = uow.recommendations.get("r1")
    assert found is not None
    found.status = "cancelled"
    assert _raise(uow, at(QUIT)) == 0


@pytest.mark.parametrize(("consent", "status"), [(True, "pending"), (False, "suppressed")])
def test_the_named_person_is_listed_for_a_copy_and_sent_one_only_with_consent(
    uow: FakeUnitOfWork, consent: bool, status: str
) -> None:
    uow.reminder_plans.put(plan("r1", named_person=PERSON, copy_consent=consent))
    _raise(uow, at(QUIT))
    assert ("plan-quit-date", "named-person", status) in _rows(uow, "r1", "plan-")


def test_a_booked_appointment_without_a_plan_is_reminded_the_day_before(
    uow: FakeUnitOfWork,
) -> None:
    start = at(QUIT + timedelta(days=1), 14)
    found = uow.recommendations.get("r1")
    assert found is not None
    found.status = "appointment-booked"
    uow.appointments.add(appointment("a1", "r1", start=start))
    assert _raise(uow, start - timedelta(days=1)) == 1
    [(event, recipient, _)] = _rows(uow, "r1", "plan-")
    # Numbered by booking: a re-booking after a missed one gets reminders of its own.
    assert (event, recipient) == ("plan-appointment-day-before-1", "service-user")


def test_a_re_booking_is_reminded_under_its_own_number(uow: FakeUnitOfWork) -> None:
    first = at(QUIT, 14)
    second = at(QUIT + timedelta(days=7), 14)
    found = uow.recommendations.get("r1")
    assert found is not None
    found.status = "appointment-booked"
    uow.appointments.add(appointment("a1", "r1", start=first, state="did-not-attend"))
    uow.appointments.add(appointment("a2", "r1", start=second, made=10))
    _raise(uow, second - timedelta(days=1))
    assert [e for e, _, _ in _rows(uow, "r1", "plan-")] == ["plan-appointment-day-before-2"]


@pytest.mark.parametrize(
    ("change", "recipient", "reason"),
    [
        ({"enabled": False}, "service-user", True),
        ({"kinds": {"kinds": ["follow-up"]}}, "service-user", True),
        ({"service_user_consent": False}, "service-user", True),
        ({}, "named-person", True),  # the plan names no one for copies
        ({}, "service-user", False),
    ],
)
def test_a_waiting_reminder_is_withdrawn_when_the_plan_no_longer_allows_it(
    uow: FakeUnitOfWork, change: dict[str, Any], recipient: str, reason: bool
) -> None:
    uow.reminder_plans.put(plan("r1", **change))
    why = withdrawal(uow, "r1", "plan-quit-date", recipient, DEFAULTS)
    assert (why is not None) is reason


def test_a_removed_plan_withdraws_its_reminders_but_not_an_appointment_reminder(
    uow: FakeUnitOfWork,
) -> None:
    assert withdrawal(uow, "r1", "plan-quit-date", "service-user", DEFAULTS) == (
        "the reminder plan was removed"
    )
    assert withdrawal(uow, "r1", "plan-appointment-day-before-1", "service-user", DEFAULTS) is None


def test_collection_reminders_come_every_interval_up_to_the_limit(uow: FakeUnitOfWork) -> None:
    ready = datetime(2026, 3, 10, 9, tzinfo=UTC)
    found = uow.recommendations.get("r1")
    assert found is not None
    found.status = "ready-to-collect"
    uow.recommendations.add_event(ready_event("r1", ready))
    policy = ReminderPolicy(every=timedelta(days=3), limit=2)
    assert send_due_reminders(uow, now=ready + timedelta(days=2), policy=policy) == 0
    assert send_due_reminders(uow, now=ready + timedelta(days=3), policy=policy) == 1
    assert send_due_reminders(uow, now=ready + timedelta(days=3, hours=1), policy=policy) == 0
    assert send_due_reminders(uow, now=ready + timedelta(days=30), policy=policy) == 1
    assert send_due_reminders(uow, now=ready + timedelta(days=60), policy=policy) == 0
    assert uow.notifications.events_for("r1", prefix=PREFIX) == [
        "collection-reminder-1",
        "collection-reminder-2",
    ]


def test_no_collection_reminder_once_collected(uow: FakeUnitOfWork) -> None:
    ready = datetime(2026, 3, 10, 9, tzinfo=UTC)
    uow.recommendations.add_event(ready_event("r1", ready))
    found = uow.recommendations.get("r1")
    assert found is not None
    found.status = "collected"
    assert send_due_reminders(uow, now=ready + timedelta(days=30), policy=ReminderPolicy()) == 0


def test_an_event_reaches_each_recipient_once_and_a_subscribed_app_by_webhook(
    uow: FakeUnitOfWork,
) -> None:
    uow.engagement.set_webhook(
        WebhookSubscription(organisation_ods=ORG, url="https://a", secret="s")
    )
    found = uow.recommendations.get("r1")
    assert found is not None
    now = datetime(2026, 3, 10, tzinfo=UTC)
    first = record_event(uow, found, "ready-to-collect", now=now)
    again = record_event(uow, found, "ready-to-collect", now=now)
    assert sorted(n.recipient for n in first) == [
        "case-management",
        "practitioner",
        "service-user",
    ]
    assert again == []
    assert len(uow.outbox.messages) == 3


def test_a_service_user_who_did_not_consent_is_recorded_as_suppressed_and_not_queued() -> None:
    uow = FakeUnitOfWork()
    rec = recommendation("r2", "ready-to-collect", consent=False)
    uow.recommendations.add(rec)
    [row] = record_event(uow, rec, "collection-reminder-1", now=datetime(2026, 3, 10, tzinfo=UTC))
    assert (row.status, row.error) == ("suppressed", "service user did not consent")
    assert uow.outbox.messages == []
