"""Collection reminders go only to a service user whose prescription is still waiting and who
agreed to be told: never after it was collected or the recommendation cancelled."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.services.reminders import PREFIX, ReminderPolicy, send_due_reminders
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import (
    Peers,
    make_runtime,
    queued_notifications,
    run_notify_tasks,
    running_peers,
    submit,
)
from workers.runtime import Runtime

POLICY = ReminderPolicy(every=timedelta(days=3), limit=2)
LATER = timedelta(days=30)  # long past every reminder's due time


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


@pytest.fixture
def rt(tmp_path: Path, peers: Peers) -> Runtime:
    peers.reset()
    return make_runtime(f"sqlite:///{tmp_path}/reminders.db", peers)


def _walk(rt: Runtime, rec_id: str, *statuses: str) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        for status in statuses:
            assert apply_status(
                uow, StatusChange(rec_id, status, source="poll"), now=datetime.now(UTC)
            ), status
        uow.commit()


def _remind(rt: Runtime) -> int:
    with UnitOfWork(rt.session_factory) as uow:
        raised = send_due_reminders(uow, now=datetime.now(UTC) + LATER, policy=POLICY)
        uow.commit()
    return raised


def _reminder_rows(rt: Runtime, rec_id: str) -> list[tuple[str, str, str]]:
    with UnitOfWork(rt.session_factory) as uow:
        return sorted(
            (n.event, n.recipient, n.status)
            for n in uow.notifications.for_recommendation(rec_id)
            if n.event.startswith(PREFIX)
        )


READY = ("delivered", "accepted", "prescription-issued", "ready-to-collect")


def _reminder_texts(peers: Peers) -> list[str]:
    return [t["body"] for t in peers.texts() if "still waiting to be collected" in t["body"]]


def test_an_uncollected_prescription_is_reminded_up_to_the_limit(rt: Runtime, peers: Peers) -> None:
    rec_id = submit(rt)
    _walk(rt, rec_id, *READY)
    assert _remind(rt) == 1
    assert _remind(rt) == 1
    assert _remind(rt) == 0  # the limit is two
    assert [row[0] for row in _reminder_rows(rt, rec_id)] == [
        "collection-reminder-1",
        "collection-reminder-2",
    ]
    run_notify_tasks(rt, queued_notifications(rt))
    assert len(_reminder_texts(peers)) == 2


@pytest.mark.parametrize("ending", ["collected", "cancelled"])
def test_no_reminder_once_collected_or_cancelled(rt: Runtime, peers: Peers, ending: str) -> None:
    rec_id = submit(rt)
    _walk(rt, rec_id, *READY, ending)
    assert _remind(rt) == 0
    assert _reminder_rows(rt, rec_id) == []
    run_notify_tasks(rt, queued_notifications(rt))
    assert _reminder_texts(peers) == []


def test_a_service_user_who_did_not_agree_gets_no_reminder(rt: Runtime, peers: Peers) -> None:
    consent = {
        "share_with_gp": True,
        "notify_service_user": False,
        "recorded_at": "2026-11-25T10:00:00Z",
    }
    rec_id = submit(rt, consent=consent)
    _walk(rt, rec_id, *READY)
    _remind(rt)
    run_notify_tasks(rt, queued_notifications(rt))
    assert _reminder_rows(rt, rec_id) == [("collection-reminder-1", "service-user", "suppressed")]
    assert peers.texts() == []


def test_a_reminder_raised_before_collection_is_not_sent_after_it(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = submit(rt)
    _walk(rt, rec_id, *READY)
    assert _remind(rt) == 1
    _walk(rt, rec_id, "collected")  # before the notify task gets to the reminder
    run_notify_tasks(rt, queued_notifications(rt))
    # Recorded as superseded (it no longer holds), not as suppressed (never allowed).
    assert _reminder_rows(rt, rec_id) == [("collection-reminder-1", "service-user", "superseded")]
    assert _reminder_texts(peers) == []
