"""Chase-ups in working days and quiet hours for texts, by travelling in time across bank
holiday weekends (England and Wales), with the real GP simulator, mail and Notify sinks."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import time_machine

from fhir_profiles import systems
from fhir_profiles.builders import CHASE_UP_ID
from gateway.domain.audience import UK, QuietHours, next_digest_at
from gateway.domain.chase_policy import ChasePolicy, WorkingDays, is_working_day, next_chase
from gateway.domain.expiry import ExpiryPolicy
from gateway.services.reengagement import is_expired, reopen
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import AudienceSettings, ChasingSettings
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import (
    Peers,
    make_runtime,
    queued_notifications,
    run_notify_tasks,
    running_peers,
    submit,
)
from workers import chasing
from workers.runtime import Runtime


def uk(*args: int) -> datetime:
    return datetime(*args, tzinfo=UK)  # type: ignore[misc]


# Pure rules


def test_bank_holidays_and_weekends_are_not_working_days() -> None:
    assert not is_working_day(date(2026, 8, 31))  # late summer bank holiday
    assert not is_working_day(date(2027, 3, 26))  # Good Friday
    assert not is_working_day(date(2027, 3, 29))  # Easter Monday
    assert not is_working_day(date(2026, 12, 28))  # Boxing Day, observed
    assert not is_working_day(date(2026, 8, 29))  # a Saturday
    assert is_working_day(date(2026, 9, 1))


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Thursday before Easter: Good Friday and Easter Monday do not count.
        (uk(2027, 3, 25, 10, 0), 3, uk(2027, 4, 1, 10, 0)),
        # Christmas Eve: Christmas Day (Fri) and Boxing Day observed (Mon) do not count.
        (uk(2026, 12, 24, 15, 30), 1, uk(2026, 12, 29, 15, 30)),
        # Delivered on a Saturday: the count starts on Monday.
        (uk(2026, 9, 5, 9, 0), 1, uk(2026, 9, 7, 9, 0)),
        # Across the clock change the UK wall-clock time is kept.
        (uk(2026, 10, 23, 9, 0), 1, uk(2026, 10, 26, 9, 0)),
    ],
)
def test_working_days_are_counted_on_the_england_and_wales_calendar(
    start: datetime, days: int, due: datetime
) -> None:
    assert WorkingDays().add(start, days) == due
    assert WorkingDays().add(start.astimezone(UTC), days) == due


def test_chase_ups_follow_n_then_every_m_working_days_up_to_the_limit() -> None:
    policy = ChasePolicy(again_after_days=2, limit=2)
    delivered = uk(2026, 8, 27, 10, 0)
    first = next_chase(
        delivered_at=delivered, chase_after_days=3, chased=0, last_chased_at=None, policy=policy
    )
    assert first is not None
    assert (first.number, first.due_at) == (1, uk(2026, 9, 2, 10, 0))
    # The next one waits until the previous has actually gone.
    assert (
        next_chase(
            delivered_at=delivered, chase_after_days=3, chased=1, last_chased_at=None, policy=policy
        )
        is None
    )
    second = next_chase(
        delivered_at=delivered,
        chase_after_days=3,
        chased=1,
        last_chased_at=uk(2026, 9, 2, 10, 5),
        policy=policy,
    )
    assert second is not None
    assert (second.number, second.due_at) == (2, uk(2026, 9, 4, 10, 5))
    assert (
        next_chase(
            delivered_at=delivered,
            chase_after_days=3,
            chased=2,
            last_chased_at=uk(2026, 9, 4, 10, 5),
            policy=policy,
        )
        is None
    )


def test_quiet_hours_end_at_eight_uk_time_whatever_the_clock_change() -> None:
    quiet = QuietHours()
    assert quiet.contains(uk(2026, 8, 30, 21, 0))
    assert quiet.contains(uk(2026, 8, 31, 7, 59))
    assert not quiet.contains(uk(2026, 8, 31, 8, 0))
    assert not quiet.contains(uk(2026, 8, 31, 20, 59))
    assert quiet.next_allowed(uk(2026, 8, 30, 22, 30)) == uk(2026, 8, 31, 8, 0)
    assert quiet.next_allowed(uk(2026, 8, 31, 3, 0)) == uk(2026, 8, 31, 8, 0)
    # The night the clocks go back (25 October 2026): 08:00 GMT is 08:00 UTC.
    woke = quiet.next_allowed(uk(2026, 10, 24, 23, 0))
    assert woke.astimezone(UTC) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)
    assert not QuietHours(time(0), time(0)).contains(uk(2026, 8, 30, 23, 0))


def test_the_daily_digest_goes_at_its_hour_the_next_day_once_past() -> None:
    assert next_digest_at(uk(2026, 8, 28, 9, 0), hour=16) == uk(2026, 8, 28, 16, 0)
    assert next_digest_at(uk(2026, 8, 28, 16, 0), hour=16) == uk(2026, 8, 29, 16, 0)


# Through the workers, travelling in time


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


@pytest.fixture
def rt(tmp_path: Path, peers: Peers) -> Runtime:
    peers.reset()
    return make_runtime(f"sqlite:///{tmp_path}/chase.db", peers)


def _apply(rt: Runtime, rec_id: str, status: str, **extra: str) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        assert apply_status(
            uow, StatusChange(rec_id, status, source="poll", **extra), now=datetime.now(UTC)
        )
        uow.commit()


def _chase(rt: Runtime) -> list[str]:
    """One beat of the chase-up schedule, with its tasks run at once."""
    published: list[str] = []
    chasing.chase_due(rt, published.append)
    return [chasing.send_chase_up(rt, chase_up_id) for chase_up_id in published]


def _chase_ups_at_gp(peers: Peers) -> list[dict[str, object]]:
    return [
        r
        for r in peers.simulator_received()
        if r["type"] == "CommunicationRequest"
        and any(
            isinstance(i, dict) and i.get("system") == CHASE_UP_ID
            for i in r["identifiers"]  # type: ignore[attr-defined]
        )
    ]


def test_a_silent_practice_is_chased_across_a_bank_holiday_weekend_until_it_acts(
    rt: Runtime, peers: Peers
) -> None:
    with time_machine.travel(uk(2026, 8, 27, 10, 0)) as traveller:  # Thursday
        rec_id = submit(rt, "Y00001")
        _apply(rt, rec_id, "delivered")
        run_notify_tasks(rt, queued_notifications(rt))

        # Friday, the bank holiday weekend and Tuesday: only two working days have passed.
        for moment in (uk(2026, 8, 28, 17, 0), uk(2026, 8, 31, 12, 0), uk(2026, 9, 1, 17, 0)):
            traveller.move_to(moment)
            assert _chase(rt) == []
        traveller.move_to(uk(2026, 9, 2, 9, 59))
        assert _chase(rt) == []

        traveller.move_to(uk(2026, 9, 2, 10, 1))  # three working days: Fri, Tue, Wed
        assert _chase(rt) == ["sent"]
        assert _chase(rt) == []  # the next beat plans nothing new
        [at_gp] = _chase_ups_at_gp(peers)
        assert {"system": systems.RECOMMENDATION_ID, "value": rec_id} in at_gp["identifiers"]  # type: ignore[operator]
        run_notify_tasks(rt, queued_notifications(rt))
        told = [m for m in peers.mail.messages() if m.subject == "Liaison chased the GP practice"]
        assert len(told) == 1
        assert "chase-up 1" in told[0].body

        traveller.move_to(uk(2026, 9, 4, 10, 0))  # M = 2 working days later, less 2 minutes
        assert _chase(rt) == []
        traveller.move_to(uk(2026, 9, 4, 10, 5))
        assert _chase(rt) == ["sent"]
        assert len(_chase_ups_at_gp(peers)) == 2

        # The practice acts: chasing stops at once, however long it then takes.
        _apply(rt, rec_id, "accepted")
        traveller.move_to(uk(2026, 9, 30, 12, 0))
        assert _chase(rt) == []
        assert len(_chase_ups_at_gp(peers)) == 2

    with UnitOfWork(rt.session_factory) as uow:
        states = [(c.number, c.state) for c in uow.follow_ups.chase_ups_for(rec_id)]
    assert states == [(1, "sent"), (2, "sent")]


def test_a_chase_up_planned_before_the_practice_acted_is_stopped_not_sent(
    rt: Runtime, peers: Peers
) -> None:
    with time_machine.travel(uk(2026, 9, 7, 10, 0)) as traveller:  # Monday
        rec_id = submit(rt, "Y00001")
        _apply(rt, rec_id, "delivered")
        traveller.move_to(uk(2026, 9, 10, 10, 30))
        published: list[str] = []
        chasing.chase_due(rt, published.append)
        assert len(published) == 1
        # The practice answers between the beat and the task.
        _apply(rt, rec_id, "appointment-needed")
        assert chasing.send_chase_up(rt, published[0]) == "stopped"
        assert chasing.send_chase_up(rt, published[0]) == "skipped"
    assert _chase_ups_at_gp(peers) == []


def test_no_text_reaches_a_service_user_at_night_it_waits_for_eight(
    tmp_path: Path, peers: Peers
) -> None:
    peers.reset()
    rt = make_runtime(
        f"sqlite:///{tmp_path}/quiet.db",
        peers,
        audience=AudienceSettings(quiet_hours_start=time(21, 0), quiet_hours_end=time(8, 0)),
    )
    # Sunday night of the late summer bank holiday weekend.
    with time_machine.travel(uk(2026, 8, 30, 22, 30)) as traveller:
        rec_id = submit(rt, "Y00001")
        for status in ("delivered", "accepted", "prescription-issued"):
            _apply(rt, rec_id, status)
        _apply(rt, rec_id, "ready-to-collect", pharmacy="Boots, 1 High Street")
        ids = queued_notifications(rt)
        outcomes = run_notify_tasks(rt, ids)
        assert "deferred" in outcomes
        # The practitioner's email goes at once; the text does not.
        assert any(m.subject == "Prescription ready to collect" for m in peers.mail.messages())
        assert peers.texts() == []

        for moment in (uk(2026, 8, 31, 3, 0), uk(2026, 8, 31, 7, 59)):
            traveller.move_to(moment)
            assert _stuck(rt) == []
            assert run_notify_tasks(rt, ids) == ["skipped"] * len(ids)
        assert peers.texts() == []

        traveller.move_to(uk(2026, 8, 31, 8, 0, 30))  # bank holiday Monday morning
        due = _stuck(rt)
        assert len(due) == 1
        assert run_notify_tasks(rt, due, times=2) == ["sent", "skipped"]

    [text] = peers.texts()
    assert text["to"] == "+447700900123"
    assert "ready to collect at Boots, 1 High Street" in text["body"]
    received = datetime.fromisoformat(text["received_at"])
    assert received.astimezone(UK).time() >= time(8, 0)
    assert received.astimezone(UK).date() == date(2026, 8, 31)


def _stuck(rt: Runtime) -> list[str]:
    """What the sweep would republish now."""
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        return uow.notifications.stuck(
            now=now, pending_before=now - timedelta(seconds=30), limit=100
        )


def test_a_practice_silent_through_every_chase_up_leaves_it_expired_and_reopenable(
    tmp_path: Path, peers: Peers
) -> None:
    peers.reset()
    rt = make_runtime(f"sqlite:///{tmp_path}/expiry.db", peers, chasing=ChasingSettings(limit=2))
    policy = ExpiryPolicy(chase=chasing.chase_policy(rt.settings))
    with time_machine.travel(uk(2026, 12, 22, 11, 0)) as traveller:  # the Tuesday before Christmas
        rec_id = submit(rt, "Y00001")
        _apply(rt, rec_id, "delivered")
        # Wed 23, Thu 24, then Christmas, Boxing Day (observed) and the weekend: Tue 29.
        traveller.move_to(uk(2026, 12, 29, 11, 5))
        assert _chase(rt) == ["sent"]
        traveller.move_to(uk(2026, 12, 31, 11, 10))  # Wed 30, Thu 31
        assert _chase(rt) == ["sent"]
        with UnitOfWork(rt.session_factory) as uow:
            rec = uow.recommendations.get(rec_id)
            assert rec is not None
            assert not is_expired(uow, rec, now=datetime.now(UTC), policy=policy)
        # New Year's Day is a bank holiday: two more working days end on Tue 5 January.
        traveller.move_to(uk(2027, 1, 5, 11, 11))
        assert _chase(rt) == []  # the limit is reached
        with UnitOfWork(rt.session_factory) as uow:
            rec = uow.recommendations.get(rec_id)
            assert rec is not None
            assert is_expired(uow, rec, now=datetime.now(UTC), policy=policy)
            result = reopen(
                uow,
                predecessor=rec,
                client_id="demo-app",
                idempotency_key=None,
                payload={k: v for k, v in rec.payload.items() if k != "clinical_safety"},
                now=datetime.now(UTC),
                policy=policy,
            )
        with UnitOfWork(rt.session_factory) as uow:
            old = uow.recommendations.get(rec_id)
            new = uow.recommendations.get(result.recommendation_id)
            assert old is not None
            assert new is not None
            assert (old.status, new.status, new.predecessor_id) == ("cancelled", "received", rec_id)
