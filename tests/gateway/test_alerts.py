"""Alerts without floods: the rule table, and the beat task end to end through the real
worker functions, the GP simulator over HTTP, the SMTP sink and a webhook receiver."""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from fastapi import FastAPI, Request
from sqlalchemy import func, select

from adapters.webhook import verify
from gateway.domain import alert_rules
from gateway.services.replay import replay_delivery
from gateway.settings import AlertSettings, DeliverySettings
from gateway.store.alert_models import Alert
from gateway.store.models import DeliveryAttempt
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import Peers, make_runtime, running_peers, serve, submit
from tests.settings_support import merged
from workers import alerting, delivery
from workers.runtime import Runtime

ENGINEERS = "integration-team@example.nhs.uk"
RULES = alert_rules.AlertRules(
    dead_letter_threshold=1,
    circuit_open_for=timedelta(minutes=10),
    outbox_lag_limit_seconds=120,
)


class Receiver:
    """A webhook endpoint that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/hooks/liaison")
        async def hook(request: Request) -> dict[str, str]:
            body = await request.body()
            with self._lock:
                self.received.append((dict(request.headers), body))
            return {"status": "ok"}

    def payloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.received]


@pytest.fixture
def peers() -> Iterator[Peers]:
    with running_peers() as found:
        yield found


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    with serve(hook.app) as url:
        yield hook, f"{url}/hooks/liaison"


def _runtime(tmp_path: Path, peers: Peers, **overrides: Any) -> Runtime:
    options: dict[str, Any] = {
        "alerts": AlertSettings(email=ENGINEERS, circuit_open_minutes=5.0),
        "delivery": DeliverySettings(
            breaker_failure_threshold=3,
            breaker_open_seconds=60.0,
            retry_budget_seconds=30 * 86400.0,
        ),
    }
    return make_runtime(f"sqlite:///{tmp_path}/alerts.db", peers, **merged(options, overrides))


def _down(peers: Peers, ods: str, seconds: float) -> None:
    httpx.put(
        f"http://127.0.0.1:{peers.simulator_port}/_sim/faults",
        json={"practice": ods, "down_seconds": seconds},
    ).raise_for_status()


def _deliveries(rt: Runtime, rec_ids: list[str]) -> list[str]:
    with UnitOfWork(rt.session_factory) as uow:
        return [uow.deliveries.for_recommendation(r)[0].id for r in rec_ids]


def _alerts(rt: Runtime) -> list[tuple[str, str, bool, bool]]:
    """(rule, subject, raised, resolved) of every alert row."""
    with UnitOfWork(rt.session_factory) as uow:
        rows = uow.session.scalars(select(Alert).order_by(Alert.id)).all()
        return [
            (a.rule, a.subject, a.raised_at is not None, a.resolved_at is not None) for a in rows
        ]


def _attempts(rt: Runtime) -> int:
    with UnitOfWork(rt.session_factory) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(DeliveryAttempt)) or 0)


def _relay(rt: Runtime) -> None:
    """What the outbox relay does each beat (there is no broker here)."""
    with UnitOfWork(rt.session_factory) as uow:
        rows = uow.outbox.unpublished(limit=1000)
        uow.outbox.mark_published([row.id for row in rows], at=datetime.now(UTC))
        uow.commit()


def _alert_mail(peers: Peers) -> list[str]:
    return [m.subject for m in peers.mail.messages() if m.subject.startswith("[Liaison]")]


def test_a_persistent_failure_raises_one_alert_and_clears_it_on_recovery(
    tmp_path: Path, peers: Peers
) -> None:
    rt = _runtime(tmp_path, peers)
    _down(peers, "Y00001", 30 * 86400)
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        ids = _deliveries(rt, [submit(rt, "Y00001") for _ in range(3)])
        # Ten minutes of outage: every delivery is tried, the breaker opens, and a probe
        # goes each minute; beat evaluates the rules after every round.
        for _ in range(10):
            for delivery_id in ids:
                delivery.deliver(rt, delivery_id)
            _relay(rt)
            alerting.check_alerts(rt)
            traveller.shift(timedelta(seconds=61))

        failed_attempts = _attempts(rt)
        assert failed_attempts >= 10
        assert _alerts(rt) == [("circuit-open", "Y00001", True, False)]
        assert _alert_mail(peers) == ["[Liaison] ALERT circuit-open Y00001"]
        body = peers.mail.messages()[-1].body
        assert "circuit breaker for Y00001 is open" in body
        assert peers.mail.messages()[-1].rcpt_tos == [ENGINEERS]

        # The practice's system comes back: the next probe succeeds and closes the breaker.
        _down(peers, "Y00001", 0)
        for _ in range(4):
            for delivery_id in ids:
                delivery.deliver(rt, delivery_id)
            traveller.shift(timedelta(seconds=61))
        with UnitOfWork(rt.session_factory) as uow:
            assert {uow.deliveries.get(d).state for d in ids} == {"delivered"}  # type: ignore[union-attr]
        _relay(rt)
        alerting.check_alerts(rt)
        for _ in range(3):
            traveller.shift(timedelta(seconds=30))
            alerting.check_alerts(rt)

    assert _alerts(rt) == [("circuit-open", "Y00001", True, True)]
    assert _alert_mail(peers) == [
        "[Liaison] ALERT circuit-open Y00001",
        "[Liaison] RESOLVED circuit-open Y00001",
    ]
    for mail in peers.mail.messages():
        assert "9434765919" not in mail.body
        assert "Taylor" not in mail.body


def test_dead_letters_raise_one_alert_per_practice_until_replayed(
    tmp_path: Path, peers: Peers, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    # Y00004 answers 503 to everything; a short budget dead-letters each delivery.
    rt = _runtime(
        tmp_path,
        peers,
        alerts=AlertSettings(email=None, webhook_url=url),
        delivery=DeliverySettings(retry_budget_seconds=1.0, breaker_failure_threshold=50),
    )
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        ids = _deliveries(rt, [submit(rt, "Y00004") for _ in range(3)])
        for _ in range(3):
            for delivery_id in ids:
                delivery.deliver(rt, delivery_id)
                _relay(rt)
                alerting.check_alerts(rt)
            traveller.shift(timedelta(seconds=5))
        with UnitOfWork(rt.session_factory) as uow:
            assert {uow.deliveries.get(d).state for d in ids} == {"dead"}  # type: ignore[union-attr]
        alerting.check_alerts(rt)
        assert _alerts(rt) == [("dead-letters", "Y00004", True, False)]
        firing = hook.payloads()
        assert len(firing) == 1
        assert firing[0]["status"] == "firing"
        # Sent when the first died; the alert keeps counting, the engineers are not told again.
        assert firing[0]["detail"] == "1 delivery to Y00004 dead-lettered in the last hour"
        with UnitOfWork(rt.session_factory) as uow:
            [open_alert] = uow.alerts.open()
            assert open_alert.detail == "3 deliveries to Y00004 dead-lettered in the last hour"

        # An engineer replays them: nothing dead-lettered is left, so the alert clears.
        with UnitOfWork(rt.session_factory) as uow:
            for delivery_id in ids:
                replay_delivery(uow, delivery_id, now=datetime.now(UTC))
            uow.commit()
        _relay(rt)
        traveller.shift(timedelta(seconds=30))
        alerting.check_alerts(rt)
        alerting.check_alerts(rt)

    assert _alerts(rt) == [("dead-letters", "Y00004", True, True)]
    assert [p["status"] for p in hook.payloads()] == ["firing", "resolved"]
    secret = alerting.webhook_secret(rt)
    for headers, body in hook.received:
        assert verify(secret, headers, body)
    assert {h["liaison-event-id"] for h, _ in hook.received} == {
        f"alert-{firing[0]['alert_id']}-raised",
        f"alert-{firing[0]['alert_id']}-resolved",
    }


def test_a_notice_that_could_not_be_sent_is_sent_at_the_next_evaluation(
    tmp_path: Path, peers: Peers
) -> None:
    rt = _runtime(tmp_path, peers)
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        uow.outbox.add(kind="deliver", ref_id="stuck")
        uow.commit()
    peers.mail.refuse(ENGINEERS, "451 4.3.0 Try again later")

    first = alerting.check_alerts(rt, now=now + timedelta(minutes=5))
    assert (first.raised, first.notices_sent, first.notices_failed) == (1, 0, 1)
    assert _alert_mail(peers) == []
    with UnitOfWork(rt.session_factory) as uow:
        [row] = uow.alerts.open()
        assert row.notified_at is None
        assert "451" in (row.notice_error or "")

    peers.mail.clear()
    second = alerting.check_alerts(rt, now=now + timedelta(minutes=6))
    third = alerting.check_alerts(rt, now=now + timedelta(minutes=7))

    assert (second.raised, second.notices_sent) == (0, 1)
    assert third.notices_sent == 0
    assert _alert_mail(peers) == ["[Liaison] ALERT outbox-lag outbox"]


# The rule table, with no I/O


def test_rules_name_each_practice_once() -> None:
    facts = alert_rules.Facts(
        dead_letters={"Y00004": 3, "Y00005": 1},
        open_circuits={"Y00004": "open", "Y00006": "half-open"},
        outbox_lag_seconds=30.0,
    )
    found = {(c.rule, c.subject): c for c in alert_rules.conditions(facts, RULES)}
    assert set(found) == {
        ("dead-letters", "Y00004"),
        ("dead-letters", "Y00005"),
        ("circuit-open", "Y00004"),
        ("circuit-open", "Y00006"),
    }
    assert found[("circuit-open", "Y00006")].hold == timedelta(minutes=10)
    assert found[("dead-letters", "Y00004")].hold == timedelta(0)
    lagging = alert_rules.Facts(dead_letters={}, open_circuits={}, outbox_lag_seconds=121.0)
    assert [c.rule for c in alert_rules.conditions(lagging, RULES)] == ["outbox-lag"]
    fewer = alert_rules.AlertRules(3, timedelta(minutes=10), 120)
    assert [
        c.subject for c in alert_rules.conditions(facts, fewer) if c.rule == "dead-letters"
    ] == ["Y00004"]


def test_a_circuit_that_closes_before_its_hold_leaves_no_alert(
    tmp_path: Path, peers: Peers
) -> None:
    rt = _runtime(tmp_path, peers)
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        practice = uow.practices.get("Y00002")
        assert practice is not None
        practice.breaker_state = "open"
        uow.commit()

    alerting.check_alerts(rt, now=now)
    alerting.check_alerts(rt, now=now + timedelta(minutes=2))
    assert _alerts(rt) == [("circuit-open", "Y00002", False, False)]  # watched, not raised
    with UnitOfWork(rt.session_factory) as uow:
        uow.practices.get("Y00002").breaker_state = "closed"  # type: ignore[union-attr]
        uow.commit()
    alerting.check_alerts(rt, now=now + timedelta(minutes=3))

    assert _alerts(rt) == []
    assert _alert_mail(peers) == []


def test_the_database_refuses_a_second_open_alert_for_the_same_subject(
    tmp_path: Path, peers: Peers
) -> None:
    rt = _runtime(tmp_path, peers)
    now = datetime.now(UTC)

    def alert() -> Alert:
        return Alert(
            rule="outbox-lag", subject="outbox", detail="x", first_seen_at=now, last_seen_at=now
        )

    with UnitOfWork(rt.session_factory) as uow:
        assert uow.alerts.add_once(alert()) is True
        assert uow.alerts.add_once(alert()) is False
        uow.alerts.open()[0].resolved_at = now
        assert uow.alerts.add_once(alert()) is True  # a new one once the first is resolved
        uow.commit()
