"""The in-memory unit of work (tests/fakes.py) answers as the real one does: the same calls,
on a fake and on a migrated SQLite store, give the same results, so tests written against
the fake keep meaning what they say when a repository's query changes."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import sample_recommendation
from gateway.domain.expiry import ExpiryPolicy
from gateway.reminder_settings import ReminderDefaults
from gateway.services import withdrawals
from gateway.services.delivery_ops import cancel_replay, replay_one, replay_progress
from gateway.services.plan_reminders import raise_plan_reminders
from gateway.services.reengagement import ReopenRefused, reopen
from gateway.services.reminders import PREFIX, ReminderPolicy, send_due_reminders
from gateway.services.replay import NotReplayable
from gateway.services.status_updates import record_event
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Notification, Practice, ReplayBatch, WebhookSubscription
from gateway.store.unit_of_work import UnitOfWork
from tests.fakes import FakeUnitOfWork
from tests.gateway.fake_samples import NOW, OTHER_PRACTICE, PRACTICE, submitted
from tests.gateway.reminder_samples import (
    ORG,
    QUIT,
    appointment,
    at,
    plan,
    ready_event,
    recommendation,
)

Store = FakeUnitOfWork | UnitOfWork
Begin = Callable[[], AbstractContextManager[Store]]
READY = datetime(2026, 3, 10, 9, tzinfo=UTC)
START = at(QUIT + timedelta(days=1), 14)


def _seed_recommendations(uow: Store) -> None:
    uow.recommendations.add(recommendation("booked", "appointment-booked"))
    uow.recommendations.add(recommendation("waiting", "ready-to-collect"))
    uow.recommendations.add(recommendation("collected", "collected"))
    uow.recommendations.add(recommendation("planned", "prescription-issued"))


def _seed(uow: Store) -> None:
    """What hangs off the recommendations (committed first: the store checks foreign keys)."""
    uow.recommendations.add_event(ready_event("waiting", READY))
    uow.recommendations.add_event(ready_event("collected", READY - timedelta(days=1)))
    uow.appointments.add(appointment("missed", "booked", start=START, state="did-not-attend"))
    uow.appointments.add(appointment("rebooked", "booked", start=START, made=5))
    uow.appointments.add(appointment("other", "collected", start=START))
    uow.reminder_plans.put(plan("planned"))
    uow.reminder_plans.put(plan("waiting", enabled=False))
    uow.replays.add(ReplayBatch(id="b1", requested_by="ops", criteria={}, state="running"))
    uow.engagement.set_webhook(
        WebhookSubscription(organisation_ods=ORG, url="https://a", secret="s")
    )


def _notifications(uow: Store, rec_id: str) -> list[tuple[Any, ...]]:
    rows: list[Notification] = list(uow.notifications.for_recommendation(rec_id))
    return sorted((n.event, n.recipient, n.member, n.channel, n.status, n.error) for n in rows)


def _reads(uow: Store) -> dict[str, Any]:
    current = uow.appointments.current("booked")
    return {
        "enabled": [p.recommendation_id for p in uow.reminder_plans.enabled()],
        "current": current.id if current else None,
        "bookings": [a.id for a in uow.appointments.for_recommendation("booked")],
        "starting": [
            a.id for a in uow.appointments.booked_starting(START - timedelta(hours=1), START)
        ]
        + [a.id for a in uow.appointments.booked_starting(START, START + timedelta(hours=1))],
        "awaiting": [
            (w.recommendation_id, w.ready_at) for w in uow.follow_ups.awaiting_collection(limit=10)
        ],
        "status": {
            r: getattr(uow.recommendations.get(r), "status", None) for r in ("booked", "planned")
        },
        "plan_of_booked": uow.reminder_plans.get("booked") is not None,
    }


def _scenario(begin: Begin) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    with begin() as uow:
        _seed_recommendations(uow)
        uow.commit()
    with begin() as uow:
        _seed(uow)
        uow.commit()
    with begin() as uow:
        seen["seeded"] = _reads(uow)
        defaults, quiet = ReminderDefaults(), (time(0), time(0))
        seen["raised"] = [
            raise_plan_reminders(
                uow, now=START - timedelta(days=1), defaults=defaults, quiet=quiet
            ),
            raise_plan_reminders(uow, now=at(QUIT), defaults=defaults, quiet=quiet),
            raise_plan_reminders(uow, now=at(QUIT, 10), defaults=defaults, quiet=quiet),
        ]
        policy = ReminderPolicy(every=timedelta(days=3), limit=2)
        seen["replay"] = [replay_progress(uow, "b1"), cancel_replay(uow, "b1", now=READY)]
        seen["collection"] = [
            send_due_reminders(uow, now=READY + timedelta(days=d), policy=policy)
            for d in (1, 3, 4, 6)
        ]
        uow.commit()
    with begin() as uow:
        seen["events"] = sorted(uow.notifications.events_for("waiting", prefix=PREFIX))
        seen["rows"] = {r: _notifications(uow, r) for r in ("booked", "planned", "waiting")}
        # Changes never committed are gone after a rollback, in-place edits included.
        booked = uow.recommendations.get_for_update("booked")
        assert booked is not None
        booked.status = "cancelled"
        uow.reminder_plans.put(plan("booked"))
        seen["again"] = [
            n.recipient for n in record_event(uow, booked, "plan-quit-date", now=READY)
        ]
        uow.rollback()
        seen["after_rollback"] = _reads(uow)
        seen["rows_after_rollback"] = _notifications(uow, "booked")
        seen["batch_after_rollback"] = replay_progress(uow, "b1")  # the cancel committed
    return seen


@pytest.fixture
def real(tmp_path: Path) -> Begin:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    with UnitOfWork(factory) as uow:  # the appointments' practice (a foreign key)
        uow.session.add(Practice(ods_code="A12345", adapter="fhir"))
        uow.commit()
    return lambda: UnitOfWork(factory)


def test_the_fake_and_the_real_unit_of_work_agree(real: Begin) -> None:
    fake = FakeUnitOfWork()
    expected = _scenario(real)
    assert _scenario(lambda: fake) == expected
    # What they agree on is not nothing: every query and use case found something.
    seeded = expected["seeded"]
    assert seeded["enabled"] == ["planned"]
    assert (seeded["current"], seeded["bookings"]) == ("rebooked", ["missed", "rebooked"])
    assert seeded["starting"] == ["rebooked"]  # from START, not before; the collected one not
    assert seeded["awaiting"] == [("waiting", READY)]
    # The day before the appointment is the quit date's afternoon: both are due, then neither.
    assert expected["raised"] == [2, 0, 0]
    assert expected["collection"] == [0, 1, 0, 1]
    assert [b.state for b in expected["replay"]] == ["running", "cancelled"]
    assert expected["batch_after_rollback"].state == "cancelled"
    assert expected["events"] == ["collection-reminder-1", "collection-reminder-2"]
    assert expected["again"]  # raised inside the transaction...
    assert expected["after_rollback"] == seeded  # ...and gone with it
    assert expected["rows_after_rollback"] == expected["rows"]["booked"]


def test_only_a_commit_keeps_changes_in_the_fake() -> None:
    fake = FakeUnitOfWork()
    with fake as uow:
        uow.recommendations.add(recommendation("r1", "received"))
    assert fake.recommendations.get("r1") is None
    assert not fake.committed
    with fake as uow:
        uow.recommendations.add(recommendation("r1", "received"))
        uow.commit()
    assert fake.committed
    assert fake.recommendations.get("r1") is not None


def _lifecycle(begin: Begin) -> dict[str, Any]:
    """Intake, a cancel, a replay refused for the withdrawn request, and two re-opens (the
    second refused): what each left in the store, ids replaced by their roles."""
    with begin() as uow:
        for ods in (PRACTICE, OTHER_PRACTICE):
            _add_practice(uow, ods)
        uow.commit()
    with begin() as uow:
        rec_id = submitted(uow, "delivered")
        (request,) = uow.deliveries.for_recommendation(rec_id)
        request.state = "in-flight"
        assert withdrawals.cancel(uow, rec_id, reason="Stopped smoking", now=NOW)
        request.state = "dead"
        uow.commit()
    seen: dict[str, Any] = {}
    with begin() as uow:
        try:
            replay_one(uow, request.id, now=NOW)
        except NotReplayable as refused:
            seen["replay"] = str(refused).replace(request.id, "<request>")
        cancelled = uow.recommendations.get(rec_id)
        assert cancelled is not None
        again = sample_recommendation(PRACTICE)
        successor = reopen(
            uow,
            predecessor=cancelled,
            client_id="c1",
            idempotency_key="k1",
            payload=again,
            now=NOW,
            policy=ExpiryPolicy(),
        ).recommendation_id
        try:
            reopen(
                uow,
                predecessor=cancelled,
                client_id="c1",
                idempotency_key=None,
                payload=again,
                now=NOW,
                policy=ExpiryPolicy(),
            )
        except ReopenRefused as refused:
            seen["reopen"] = str(refused).replace(successor, "<successor>")
    with begin() as uow:
        roles = {rec_id: "<original>", successor: "<successor>", request.id: "<request>"}
        seen["deliveries"] = sorted(
            (d.purpose, d.state, d.practice_ods, roles.get(d.withdraws_id or ""))
            for r in (rec_id, successor)
            for d in uow.deliveries.for_recommendation(r)
        )
        seen["tasks"] = [
            (t.version_id, t.body.get("status"))
            for r in (rec_id, successor)
            for t in uow.recommendations.resources_for(r)
            if t.resource_type == "Task"
        ]
        seen["cancelled_at"] = uow.recommendations.last_event_at(rec_id, "cancelled") == NOW
        found = uow.follow_ups.successor_of(rec_id)
        seen["successor"] = roles.get(found.id) if found else None
        key = uow.recommendations.find_idempotency_key(client_id="c1", key="k1")
        seen["key"] = roles.get(key.recommendation_id) if key else None
    return seen


def _add_practice(uow: Store, ods: str) -> None:
    practice = Practice(ods_code=ods, adapter="inbox")
    if isinstance(uow, UnitOfWork):
        uow.session.add(practice)
    else:
        uow.practices.add(practice)


def test_the_fake_and_the_real_unit_of_work_agree_on_a_request_s_life(real: Begin) -> None:
    expected = _lifecycle(real)
    fake = FakeUnitOfWork()
    assert _lifecycle(lambda: fake) == expected
    assert expected["replay"] == (
        "delivery <request> carries a request that was withdrawn; it is not sent again"
    )
    assert expected["reopen"] == "already re-opened as <successor>"
    assert expected["deliveries"] == [
        ("request", "dead", PRACTICE, None),
        ("request", "pending", PRACTICE, None),
        ("withdrawal", "pending", PRACTICE, "<request>"),
    ]
    assert expected["tasks"] == [(2, "cancelled"), (1, "requested")]
    assert (expected["cancelled_at"], expected["successor"], expected["key"]) == (
        True,
        "<successor>",
        "<successor>",
    )
