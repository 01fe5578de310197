"""The beat task that raises plan reminders, and the notify task that sends them: each once,
in private words, to the service user and (with consent) the person they named; stopped when
the recommendation ends, the service user opts out or the practitioner turns it off."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from gateway.domain.audience import UK
from gateway.domain.messages import denied_words
from gateway.services.reminders import ReminderPolicy, send_due_reminders
from gateway.settings import AudienceSettings
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import (
    Peers,
    make_runtime,
    queued_notifications,
    run_notify_tasks,
    running_peers,
    submit,
    walk,
)
from tests.gateway.reminder_samples import COPY_MOBILE, QUIT, plan
from workers.notifying import LEASE
from workers.reminding import remind_plans
from workers.runtime import Runtime


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UK)


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


@pytest.fixture
def rt(tmp_path: Path, peers: Peers) -> Runtime:
    peers.reset()
    return make_runtime(f"sqlite:///{tmp_path}/plans.db", peers)


def _set_plan(rt: Runtime, rec_id: str, **changes: Any) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        uow.reminder_plans.put(plan(rec_id, **changes))
        uow.commit()


def _rows(rt: Runtime, rec_id: str, prefix: str) -> list[tuple[str, str, str]]:
    with UnitOfWork(rt.session_factory) as uow:
        return sorted(
            (n.event, n.recipient, n.status)
            for n in uow.notifications.for_recommendation(rec_id)
            if n.event.startswith(prefix) and n.channel != "webhook"
        )


def _send(rt: Runtime, *, times: int = 1) -> None:
    run_notify_tasks(rt, queued_notifications(rt), times=times)


def _texts_to(peers: Peers, number: str) -> list[str]:
    return [str(t["body"]) for t in peers.texts() if t["to"] == number]


def test_the_quit_date_is_reminded_once_in_private_words_however_often_the_tasks_run(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = submit(rt)
    walk(rt, rec_id, "delivered", "accepted", "prescription-issued")
    _set_plan(rt, rec_id)
    assert remind_plans(rt, now=_at(QUIT, 10)) == 1
    assert remind_plans(rt, now=_at(QUIT, 11)) == 0  # beat ran again: nothing new
    _send(rt, times=2)  # the broker redelivered every notify task
    assert _rows(rt, rec_id, "plan-") == [("plan-quit-date", "service-user", "sent")]
    texts = [t for t in peers.texts() if "the day you agreed" in str(t["body"])]
    assert len(texts) == 1
    assert denied_words(str(texts[0]["body"])) == []


def test_nothing_is_raised_once_cancelled_and_a_waiting_reminder_is_superseded(
    rt: Runtime, peers: Peers
) -> None:
    ended = submit(rt)
    _set_plan(rt, ended)
    walk(rt, ended, "cancelled")
    assert remind_plans(rt, now=_at(QUIT, 10)) == 0
    waiting = submit(rt)
    _set_plan(rt, waiting)
    assert remind_plans(rt, now=_at(QUIT, 10)) == 1
    walk(rt, waiting, "cancelled")  # before the notify task got to it
    _send(rt)
    assert _rows(rt, waiting, "plan-") == [("plan-quit-date", "service-user", "superseded")]
    assert [t for t in peers.texts() if "the day you agreed" in str(t["body"])] == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"service_user_consent": False}, "opted out"),
        ({"enabled": False}, "turned reminders off"),
        ({"kinds": {"kinds": ["supply"]}}, "turned quit-date reminders off"),
    ],
)
def test_a_waiting_reminder_stops_when_the_plan_changes_before_it_goes(
    rt: Runtime, peers: Peers, change: dict[str, Any], reason: str
) -> None:
    rec_id = submit(rt)
    _set_plan(rt, rec_id)
    assert remind_plans(rt, now=_at(QUIT, 10)) == 1
    _set_plan(rt, rec_id, **change)
    _send(rt)
    with UnitOfWork(rt.session_factory) as uow:
        [row] = [
            n for n in uow.notifications.for_recommendation(rec_id) if n.event == "plan-quit-date"
        ]
        assert (row.status, reason in str(row.error)) == ("superseded", True)
    assert peers.texts() == []


@pytest.mark.parametrize("consent", [True, False])
def test_the_named_person_gets_a_private_copy_only_with_consent(
    rt: Runtime, peers: Peers, consent: bool
) -> None:
    rec_id = submit(rt)
    person = {"role": "family-member", "channel": "sms", "address": COPY_MOBILE}
    _set_plan(rt, rec_id, named_person=person, copy_consent=consent)
    remind_plans(rt, now=_at(QUIT, 10))
    _send(rt)
    copies = _texts_to(peers, COPY_MOBILE)
    if consent:
        assert len(copies) == 1
        assert "the person you support" in copies[0]
        assert denied_words(copies[0]) == []
        assert "Taylor" not in copies[0]  # the service user is not named in a copy
    else:
        assert copies == []
    # The service user's own reminder goes either way.
    assert len(_texts_to(peers, "+447700900123")) == 1


def test_a_copy_stops_when_consent_to_copies_is_withdrawn(rt: Runtime, peers: Peers) -> None:
    rec_id = submit(rt)
    person = {"role": "carer", "channel": "sms", "address": COPY_MOBILE}
    _set_plan(rt, rec_id, named_person=person, copy_consent=True)
    remind_plans(rt, now=_at(QUIT, 10))
    _set_plan(rt, rec_id, named_person=person, copy_consent=False)
    _send(rt)
    assert _texts_to(peers, COPY_MOBILE) == []
    assert ("plan-quit-date", "named-person", "superseded") in _rows(rt, rec_id, "plan-")


def test_the_practitioner_is_asked_to_check_in_four_weeks_after_the_quit_date(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = submit(rt)
    walk(rt, rec_id, "delivered", "accepted", "prescription-issued")
    _set_plan(rt, rec_id, kinds={"kinds": ["follow-up"]})
    day = QUIT + timedelta(weeks=4)
    assert remind_plans(rt, now=_at(day, 10)) == 1
    assert remind_plans(rt, now=_at(day, 12)) == 0
    _send(rt, times=2)
    assert _rows(rt, rec_id, "follow-up") == [("follow-up-week-4", "practitioner", "sent")]
    subjects = [m.subject for m in peers.mail.messages()]
    assert subjects.count("Check in: 4 weeks since the quit date") == 1
    assert peers.texts() == []  # a follow-up is for the practitioner, not the service user


def test_the_practitioner_is_prompted_to_try_again_after_a_rejection_once(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = submit(rt)
    walk(rt, rec_id, "delivered", "rejected")
    after = timedelta(seconds=rt.settings.reminders.try_again_prompt_after_seconds)
    assert remind_plans(rt, now=datetime.now(UTC) + after / 2) == 0  # not yet
    assert remind_plans(rt, now=datetime.now(UTC) + after + timedelta(hours=1)) == 1
    assert remind_plans(rt, now=datetime.now(UTC) + after + timedelta(hours=2)) == 0
    _send(rt, times=2)
    subjects = [m.subject for m in peers.mail.messages()]
    assert subjects.count("Time to ask again?") == 1


def test_a_reminder_whose_sender_died_mid_send_goes_once_after_the_lease(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = submit(rt)
    _set_plan(rt, rec_id)
    remind_plans(rt, now=_at(QUIT, 10))
    queued = set(queued_notifications(rt))
    with UnitOfWork(rt.session_factory) as uow:
        [notification_id] = [
            n.id
            for n in uow.notifications.for_recommendation(rec_id)
            if n.id in queued and n.event == "plan-quit-date"
        ]
        # A worker claimed it and was killed before it sent or recorded anything.
        assert uow.notifications.claim(notification_id, now=datetime.now(UTC), lease=LEASE)
        uow.commit()
    assert run_notify_tasks(rt, [notification_id]) == ["skipped"]  # the lease still holds
    with time_machine.travel(datetime.now(UTC) + LEASE + timedelta(seconds=1)):
        assert run_notify_tasks(rt, [notification_id], times=2) == ["sent", "skipped"]
    assert len([t for t in peers.texts() if "the day you agreed" in str(t["body"])]) == 1


def test_an_expired_prescription_prompts_the_practitioner_to_try_again_after_the_delay(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = submit(rt)
    walk(rt, rec_id, "delivered", "accepted", "prescription-issued", "ready-to-collect")
    expires = timedelta(seconds=rt.settings.collection.expire_after_seconds)
    after = timedelta(seconds=rt.settings.reminders.try_again_prompt_after_seconds)
    now = datetime.now(UTC)
    assert remind_plans(rt, now=now + expires + after / 2) == 0  # expired, but not long enough
    assert remind_plans(rt, now=now + expires + after + timedelta(hours=1)) == 1
    _send(rt)
    assert ("try-again", "practitioner", "sent") in _rows(rt, rec_id, "try-again")


def test_texts_to_the_service_user_and_the_named_person_wait_for_the_end_of_quiet_hours(
    tmp_path: Path, peers: Peers
) -> None:
    peers.reset()
    rt = make_runtime(
        f"sqlite:///{tmp_path}/quiet.db",
        peers,
        audience=AudienceSettings(quiet_hours_start=time(21, 0), quiet_hours_end=time(8, 0)),
    )
    rec_id = submit(rt)
    person = {"role": "carer", "channel": "sms", "address": COPY_MOBILE}
    _set_plan(rt, rec_id, named_person=person, copy_consent=True)
    # The worker was down all day: the reminder is found late in the evening, in quiet hours.
    with time_machine.travel(_at(QUIT, 22), tick=False):
        assert remind_plans(rt, now=_at(QUIT, 20)) == 1
        _send(rt)
        assert peers.texts() == []
    with time_machine.travel(_at(QUIT + timedelta(days=1), 8) + timedelta(minutes=1)):
        with UnitOfWork(rt.session_factory) as uow:
            waiting = [
                n.id
                for n in uow.notifications.for_recommendation(rec_id)
                if n.event == "plan-quit-date" and n.status == "pending"
            ]
        assert len(waiting) == 2
        run_notify_tasks(rt, waiting)
    assert len(_texts_to(peers, COPY_MOBILE)) == 1
    assert len(_texts_to(peers, "+447700900123")) == 1


def test_opting_out_stops_a_waiting_collection_reminder_too(rt: Runtime, peers: Peers) -> None:
    rec_id = submit(rt)
    walk(rt, rec_id, "delivered", "accepted", "prescription-issued", "ready-to-collect")
    with UnitOfWork(rt.session_factory) as uow:
        policy = ReminderPolicy(every=timedelta(days=3), limit=2)
        later = datetime.now(UTC) + timedelta(days=4)
        assert send_due_reminders(uow, now=later, policy=policy) == 1
        uow.commit()
    _set_plan(rt, rec_id, service_user_consent=False)  # PUT …/reminders, before it goes
    _send(rt)
    assert _rows(rt, rec_id, "collection-reminder") == [
        ("collection-reminder-1", "service-user", "superseded")
    ]
    assert [t for t in peers.texts() if "still waiting to be collected" in str(t["body"])] == []
