"""A send that outlives its lease: another worker takes the message meanwhile and settles it
(here: superseded, because the practice moved on). When the slow send comes back, a success
is recorded (the person was told) and a failure changes nothing (a superseded message is
never put back to be sent).

Real SQLite database and the worker's own functions; the text channel is a stand-in that
lets the lease lapse and the second worker run while the first one's send is under way."""

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from adapters.errors import TransientAdapterError
from adapters.notification import NotificationChannel, OutgoingMessage
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import Peers, make_runtime, queued_notifications, running_peers
from tests.follow_up_support import submit as submit_recommendation
from workers import notifying
from workers.runtime import Runtime


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


@pytest.fixture
def rt(tmp_path: Path, peers: Peers) -> Runtime:
    peers.reset()
    return make_runtime(f"sqlite:///{tmp_path}/late.db", peers)


def _apply(rt: Runtime, rec_id: str, status: str) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        assert apply_status(uow, StatusChange(rec_id, status, source="poll"), now=datetime.now(UTC))
        uow.commit()


@dataclasses.dataclass
class _SlowText:
    """A text channel whose send runs `meanwhile` (the rest of the world) before it ends."""

    meanwhile: Callable[[], None]
    result: str | Exception
    name: str = "sms"

    def send(self, message: OutgoingMessage) -> str:
        self.meanwhile()
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _appointment_text(rt: Runtime) -> tuple[str, str]:
    """A recommendation whose practice asked for an appointment, and the service user's
    text saying so (not sent yet)."""
    rec_id = submit_recommendation(rt, "Y00003")
    _apply(rt, rec_id, "delivered")
    queued_notifications(rt)
    _apply(rt, rec_id, "appointment-needed")
    queued_notifications(rt)
    with UnitOfWork(rt.session_factory) as uow:
        [text_id] = [
            n.id
            for n in uow.notifications.for_recommendation(rec_id)
            if n.event == "appointment-needed" and n.channel == "sms"
        ]
    return rec_id, text_id


def _slow_send(rt: Runtime, rec_id: str, text_id: str, result: str | Exception) -> list[str]:
    """Worker A sends the text slowly; meanwhile the practice moves on, A's lease lapses
    and worker B takes the text. Returns what B and then A reported."""
    reported: list[str] = []
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:

        def meanwhile() -> None:
            _apply(rt, rec_id, "accepted")  # no appointment is asked for any more
            traveller.shift(notifying.LEASE * 2)
            reported.append(notifying.send_notification(rt, text_id))  # worker B

        slow = _SlowText(meanwhile, result)

        def channel(name: str) -> NotificationChannel:
            return slow if name == "sms" else rt.channel(name)

        reported.append(
            notifying.send_notification(dataclasses.replace(rt, channel=channel), text_id)
        )
    return reported


def _row(rt: Runtime, text_id: str) -> tuple[str, str | None, str | None, datetime | None]:
    with UnitOfWork(rt.session_factory) as uow:
        n = uow.notifications.get(text_id)
        assert n is not None
        return n.status, n.provider_id, n.error, n.not_before


def test_a_slow_send_that_went_is_recorded_sent_though_another_worker_superseded_it(
    rt: Runtime, peers: Peers
) -> None:
    rec_id, text_id = _appointment_text(rt)
    assert _slow_send(rt, rec_id, text_id, "provider-42") == ["superseded", "sent"]
    status, provider_id, error, _ = _row(rt, text_id)
    # The service user did get the text: the record says so, for whoever reads it next.
    assert (status, provider_id, error) == ("sent", "provider-42", None)
    assert peers.texts() == []  # worker B sent nothing


def test_a_slow_send_that_failed_leaves_a_superseded_text_superseded(
    rt: Runtime, peers: Peers
) -> None:
    rec_id, text_id = _appointment_text(rt)
    failure = TransientAdapterError("503 from the provider")
    assert _slow_send(rt, rec_id, text_id, failure) == ["superseded", "superseded"]
    status, _, error, not_before = _row(rt, text_id)
    assert status == "superseded"
    assert error is not None
    assert "no appointment is asked for" in error  # the reason, not the late failure
    assert not_before is None
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        assert text_id not in uow.notifications.stuck(now=now, pending_before=now, limit=100)
    assert notifying.send_notification(rt, text_id) == "skipped"
    assert peers.texts() == []
