"""A failed notification follows the retry rule every leased job shares
(gateway.domain.retry_policy): a refusal fails at once, a rate limit's Retry-After is waited
out however short the backoff, and a message still failing once the retry budget has passed
is given up. Webhooks are notifications on their own channel, under the same rule."""

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy.exc import OperationalError

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.notification import NotificationChannel, OutgoingMessage
from gateway.settings import DeliverySettings
from gateway.store.models import WebhookSubscription
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
from workers.runtime import Runtime


class _Failing:
    """A channel whose every send fails with `error`."""

    name = "failing"

    def __init__(self, error: AdapterError) -> None:
        self.error = error
        self.tries = 0

    def send(self, message: OutgoingMessage) -> str:
        self.tries += 1
        raise self.error


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


def _runtime(tmp_path: Path, peers: Peers, **overrides: float) -> Runtime:
    peers.reset()
    # Backoff of at most 2 s (follow_up_support): any longer wait is the server's asking.
    return make_runtime(f"sqlite:///{tmp_path}/retries.db", peers, **overrides)


def _texts_failing(rt: Runtime, channel: _Failing) -> Runtime:
    def by_name(name: str) -> NotificationChannel:
        return channel if name == "sms" else rt.channel(name)

    return replace(rt, channel=by_name)


@dataclass(frozen=True)
class _Seen:
    status: str
    not_before: datetime | None
    attempt_count: int
    error: str | None


def _on_channel(rt: Runtime, rec_id: str, channel: str) -> _Seen:
    """The recommendation's one notification on `channel`, as the store has it now."""
    with UnitOfWork(rt.session_factory) as uow:
        [n] = [n for n in uow.notifications.for_recommendation(rec_id) if n.channel == channel]
        at = n.not_before.replace(tzinfo=UTC) if n.not_before is not None else None
        return _Seen(n.status, at, n.attempt_count, n.error)


def _due(rt: Runtime) -> list[str]:
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        return uow.notifications.stuck(now=now, pending_before=now, limit=10)


def test_a_rate_limited_text_waits_as_long_as_notify_asks(tmp_path: Path, peers: Peers) -> None:
    rt = _runtime(tmp_path, peers)
    rec_id = submit(rt, "Y00003")
    walk(rt, rec_id, "delivered", "appointment-needed")
    failing = _Failing(RateLimited("notify answered 429", retry_after=600))
    before = datetime.now(UTC)
    outcomes = run_notify_tasks(_texts_failing(rt, failing), queued_notifications(rt))
    assert sorted(set(outcomes)) == ["pending", "sent"]
    text = _on_channel(rt, rec_id, "sms")
    assert text.status == "pending"
    assert text.not_before is not None
    assert text.not_before >= before + timedelta(seconds=600)
    assert _due(rt) == []  # not before the 10 minutes are up


def test_a_text_still_failing_after_the_retry_budget_is_given_up(
    tmp_path: Path, peers: Peers
) -> None:
    rt = _runtime(tmp_path, peers, delivery=DeliverySettings(retry_budget_seconds=60.0))
    rec_id = submit(rt, "Y00003")
    walk(rt, rec_id, "delivered", "appointment-needed")
    failing = _Failing(TransientAdapterError("notify answered 503", status_code=503))
    failing_rt = _texts_failing(rt, failing)
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        run_notify_tasks(failing_rt, queued_notifications(rt))
        # Within the budget: tried again later.
        assert _on_channel(rt, rec_id, "sms").status == "pending"
        traveller.shift(timedelta(seconds=5))
        assert run_notify_tasks(failing_rt, _due(rt)) == ["pending"]
        traveller.shift(timedelta(seconds=120))
        assert run_notify_tasks(failing_rt, _due(rt)) == ["failed"]
    text = _on_channel(rt, rec_id, "sms")
    assert (text.status, text.attempt_count) == ("failed", 3)
    assert failing.tries == 3
    assert _due(rt) == []


def _subscribe(rt: Runtime) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        now = datetime.now(UTC)
        uow.engagement.set_webhook(
            WebhookSubscription(
                organisation_ods="RX3",
                url="https://case-management.example/hooks/liaison",
                secret="a-webhook-secret-of-at-least-32-characters",
                created_at=now,
                updated_at=now,
            )
        )
        uow.commit()


def _webhook_answering(tmp_path: Path, peers: Peers, error: AdapterError) -> _Seen:
    rt = _runtime(tmp_path, peers)
    rec_id = submit(rt, "Y00002")
    run_notify_tasks(rt, queued_notifications(rt))  # the care team's flag, before subscribing
    _subscribe(rt)
    walk(rt, rec_id, "delivered")
    failing = _Failing(error)
    run_notify_tasks(replace(rt, webhook=lambda secret: failing), queued_notifications(rt))
    assert failing.tries == 1
    return _on_channel(rt, rec_id, "webhook")


def test_a_rate_limited_webhook_waits_as_long_as_the_app_asks(tmp_path: Path, peers: Peers) -> None:
    before = datetime.now(UTC)
    hook = _webhook_answering(
        tmp_path, peers, RateLimited("webhook to app answered 429", retry_after=900)
    )
    assert hook.status == "pending"
    assert hook.not_before is not None
    assert hook.not_before >= before + timedelta(seconds=900)


def test_a_webhook_the_app_refuses_is_not_retried(tmp_path: Path, peers: Peers) -> None:
    hook = _webhook_answering(
        tmp_path, peers, PermanentAdapterError("webhook to app answered 410", status_code=410)
    )
    assert (hook.status, hook.not_before) == ("failed", None)
    assert hook.error == "webhook to app answered 410"


class _CountingThenDatabaseBlip:
    """Sends through the real channel, then makes the next commit fail as a database that
    has just restarted would: the send has happened, its recording has not."""

    name = "sms"

    def __init__(self, real: NotificationChannel) -> None:
        self.real = real
        self.sends = 0
        self.blip_pending = False

    def send(self, message: OutgoingMessage) -> str:
        self.sends += 1
        provider_id = self.real.send(message)
        self.blip_pending = True
        return provider_id


def test_a_text_sent_while_the_database_restarts_is_recorded_once_and_not_sent_again(
    tmp_path: Path, peers: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _runtime(tmp_path, peers)
    rec_id = submit(rt, "Y00003")
    walk(rt, rec_id, "delivered", "appointment-needed")
    channel = _CountingThenDatabaseBlip(rt.channel("sms"))
    real_commit = UnitOfWork.commit

    def commit(uow: UnitOfWork) -> None:
        if channel.blip_pending:
            channel.blip_pending = False
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))
        real_commit(uow)

    monkeypatch.setattr(UnitOfWork, "commit", commit)

    def by_name(name: str) -> NotificationChannel:
        return channel if name == "sms" else rt.channel(name)

    run_notify_tasks(replace(rt, channel=by_name), queued_notifications(rt))

    text = _on_channel(rt, rec_id, "sms")
    assert (text.status, text.attempt_count, text.error) == ("sent", 1, None)
    assert channel.sends == 1
    assert _due(rt) == []  # nothing left to lapse back and go a second time
