"""Notifications through the real SMTP mail sink and the local GOV.UK Notify sink: each
event reaches each recipient at most once, whatever the broker does; digests, webhooks
and retries."""

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from fastapi import FastAPI, Request, Response

from adapters.webhook import EVENT_ID_HEADER, verify
from gateway.domain.audience import UK
from gateway.services.status_updates import StatusChange, apply_status, record_event
from gateway.settings import NotifySettings, NotifyTemplates, WebhookSettings
from gateway.store.models import PractitionerPreference, WebhookSubscription
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import (
    Peers,
    make_runtime,
    queued_notifications,
    run_notify_tasks,
    running_peers,
    serve,
    submit,
)
from workers import notifying
from workers.runtime import Runtime

WEBHOOK_SECRET = "a-webhook-secret-of-at-least-32-characters"


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


@pytest.fixture
def rt(tmp_path: Path, peers: Peers) -> Runtime:
    peers.reset()
    return make_runtime(f"sqlite:///{tmp_path}/notify.db", peers)


def _apply(rt: Runtime, rec_id: str, status: str, **extra: str) -> bool:
    with UnitOfWork(rt.session_factory) as uow:
        applied = apply_status(
            uow, StatusChange(rec_id, status, source="poll", **extra), now=datetime.now(UTC)
        )
        uow.commit()
    return applied


def _raise(rt: Runtime, rec_id: str, event: str) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        record_event(uow, rec, event, now=datetime.now(UTC))
        uow.commit()


def _walk_every_event(rt: Runtime, rec_id: str, send: Callable[[list[str]], None]) -> None:
    """Every event there is, with the repeats a real deployment produces: a poll that
    reports the same state twice, a beat that raises the same reminder twice. `send` gets
    what each leg queued before the next leg moves the recommendation on, as a running
    worker would: a message still waiting when its news is overtaken is not sent at all
    (tests/workers/test_superseded_messages.py)."""
    _apply(rt, rec_id, "delivered")
    _raise(rt, rec_id, "chase-up-1")
    _raise(rt, rec_id, "chase-up-1")
    send(queued_notifications(rt))
    for status in ("accepted", "appointment-needed", "appointment-needed"):
        _apply(rt, rec_id, status)
    send(queued_notifications(rt))
    _apply(rt, rec_id, "accepted")
    _apply(rt, rec_id, "prescription-issued", pharmacy="Boots, 1 High Street")
    for _ in range(2):
        _apply(rt, rec_id, "ready-to-collect", pharmacy="Boots, 1 High Street")
        _raise(rt, rec_id, "collection-reminder-1")
    _raise(rt, rec_id, "collection-reminder-2")
    send(queued_notifications(rt))


def _check_once_each(rt: Runtime, peers: Peers, rec_ids: list[str]) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        rows = [
            (n.id, n.recommendation_id, n.event, n.recipient, n.channel, n.status, n.error)
            for rid in rec_ids
            for n in uow.notifications.for_recommendation(rid)
        ]
    assert {row[5] for row in rows} == {"sent"}, rows
    mail_refs = Counter(m.reference for m in peers.mail.messages())
    text_refs = Counter(t["reference"] for t in peers.texts())
    assert set(mail_refs) == {row[0] for row in rows if row[4] == "email"}
    assert set(text_refs) == {row[0] for row in rows if row[4] == "sms"}
    assert max(mail_refs.values()) == 1
    assert max(text_refs.values()) == 1
    per_recipient = Counter(row[1:4] for row in rows)
    assert max(per_recipient.values()) == 1


def _events_told(rt: Runtime, rec_id: str) -> set[tuple[str, str]]:
    with UnitOfWork(rt.session_factory) as uow:
        return {(n.event, n.recipient) for n in uow.notifications.for_recommendation(rec_id)}


def _every_event_at_most_once(rt: Runtime, peers: Peers) -> None:
    rec_id = submit(rt, "Y00001")
    queued: list[str] = []
    outcomes: list[str] = []

    def twice(ids: list[str]) -> None:
        # The notify task runs twice for every notification (a redelivered message, a sweep).
        queued.extend(ids)
        outcomes.extend(run_notify_tasks(rt, ids, times=2))

    _walk_every_event(rt, rec_id, twice)
    assert outcomes.count("sent") == len(queued)
    assert outcomes.count("skipped") == len(queued)
    assert _events_told(rt, rec_id) == {
        ("clinical-safety-flag", "care-team"),  # the sample service user takes clozapine
        ("delivered", "practitioner"),
        ("accepted", "practitioner"),
        ("appointment-needed", "practitioner"),
        ("appointment-needed", "service-user"),
        ("chase-up-1", "practitioner"),
        ("prescription-issued", "practitioner"),
        ("ready-to-collect", "practitioner"),
        ("ready-to-collect", "service-user"),
        ("collection-reminder-1", "service-user"),
        ("collection-reminder-2", "service-user"),
    }

    # And with several workers racing for the same notifications at the same moment.
    second = submit(rt, "Y00001")
    raced: list[str] = []
    results: list[str] = []
    lock = threading.Lock()

    def race(ids: list[str]) -> None:
        raced.extend(ids)

        def worker() -> None:
            done = run_notify_tasks(rt, ids)
            with lock:
                results.extend(done)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    _walk_every_event(rt, second, race)
    assert results.count("sent") == len(raced)
    _check_once_each(rt, peers, [rec_id, second])


def test_every_event_reaches_each_recipient_at_most_once_even_when_run_twice(
    rt: Runtime, peers: Peers
) -> None:
    _every_event_at_most_once(rt, peers)


@pytest.mark.services
def test_every_event_at_most_once_on_postgresql(postgres_url: str, peers: Peers) -> None:
    peers.reset()
    _every_event_at_most_once(make_runtime(postgres_url, peers), peers)


def test_the_service_user_hears_only_what_they_agreed_to(rt: Runtime, peers: Peers) -> None:
    payload_consent = {
        "share_with_gp": True,
        "notify_service_user": False,
        "recorded_at": "2026-11-25T10:00:00Z",
    }
    rec_id = submit(rt, "Y00001", consent=payload_consent)
    _apply(rt, rec_id, "delivered")
    _apply(rt, rec_id, "ready-to-collect")
    run_notify_tasks(rt, queued_notifications(rt))
    with UnitOfWork(rt.session_factory) as uow:
        rows = {
            n.recipient: (n.status, n.error)
            for n in uow.notifications.for_recommendation(rec_id)
            if n.event == "ready-to-collect"
        }
    assert rows == {
        "service-user": ("suppressed", "service user did not consent"),
        "practitioner": ("sent", None),
    }
    assert peers.texts() == []


def test_a_service_user_who_chose_email_gets_it_through_notify(rt: Runtime, peers: Peers) -> None:
    contact = {"mobile": "+447700900123", "email": "sam@example.org", "preferred": "email"}
    service_user = {
        "nhs_number": "9434765919",
        "name": {"given": "Sam", "family": "Taylor"},
        "contact": contact,
    }
    rec_id = submit(rt, "Y00003", service_user=service_user)
    _apply(rt, rec_id, "delivered")
    _apply(rt, rec_id, "appointment-needed")
    run_notify_tasks(rt, queued_notifications(rt))
    [sent] = peers.texts()
    assert (sent["type"], sent["to"]) == ("email", "sam@example.org")
    assert sent["subject"] == "Please book a GP appointment"
    # Staff mail goes over SMTP; the service user's never does.
    smtp_recipients = {r for m in peers.mail.messages() for r in m.rcpt_tos}
    assert smtp_recipients == {"alex.morgan@example.nhs.uk", "jo.okafor@example.nhs.uk"}


def test_a_transient_failure_waits_and_is_sent_once_a_permanent_one_is_not_retried(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = submit(rt, "Y00003")
    _apply(rt, rec_id, "delivered")
    _apply(rt, rec_id, "appointment-needed")
    ids = queued_notifications(rt)
    peers.fail_next_text(503)
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        outcomes = run_notify_tasks(rt, ids)
        assert outcomes.count("pending") == 1  # the text; the emails went
        assert set(outcomes) == {"pending", "sent"}
        with UnitOfWork(rt.session_factory) as uow:
            [(text_id, not_before, error)] = [
                (n.id, n.not_before, n.error)
                for n in uow.notifications.for_recommendation(rec_id)
                if n.channel == "sms"
            ]
        assert not_before is not None
        assert "503" in (error or "")
        traveller.shift(timedelta(seconds=5))
        now = datetime.now(UTC)
        with UnitOfWork(rt.session_factory) as uow:
            due = uow.notifications.stuck(now=now, pending_before=now, limit=10)
        assert due == [text_id]
        assert run_notify_tasks(rt, due, times=2) == ["sent", "skipped"]
    assert len(peers.texts()) == 1

    second = submit(rt, "Y00003")
    _apply(rt, second, "delivered")
    _apply(rt, second, "appointment-needed")
    peers.fail_next_text(400)
    outcomes = run_notify_tasks(rt, queued_notifications(rt))
    assert outcomes.count("failed") == 1
    assert set(outcomes) == {"failed", "sent"}
    assert len(peers.texts()) == 1


def test_a_practitioner_who_chose_a_daily_digest_gets_one_email(rt: Runtime, peers: Peers) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        uow.engagement.set_preference(
            PractitionerPreference(
                organisation_ods="RX3",
                practitioner_id="mhscp-001",
                delivery="daily-digest",
                updated_at=datetime.now(UTC),
            )
        )
        uow.commit()
    with time_machine.travel(datetime(2026, 9, 8, 9, 0, tzinfo=UK)) as traveller:
        first, second = submit(rt, "Y00001"), submit(rt, "Y00002")
        for status in ("delivered", "accepted", "prescription-issued"):
            _apply(rt, first, status)
        _apply(rt, first, "ready-to-collect", pharmacy="Boots, 1 High Street")
        _apply(rt, second, "delivered")
        _apply(rt, second, "rejected", detail="Please see the practice nurse first")
        outcomes = run_notify_tasks(rt, queued_notifications(rt), times=2)
        # The practitioner's six messages are held; the service user's text and the care
        # team's two safety flags are not theirs to hold.
        assert outcomes.count("held") == 6
        assert outcomes.count("sent") == 3
        assert {r for m in peers.mail.messages() for r in m.rcpt_tos} == {
            "jo.okafor@example.nhs.uk"
        }
        peers.mail.clear()
        assert notifying.digests_due(rt) == []

        traveller.move_to(datetime(2026, 9, 8, 16, 0, 5, tzinfo=UK))
        assert notifying.digests_due(rt) == [("RX3", "mhscp-001")]
        results: list[str] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(notifying.send_digest(rt, "RX3", "mhscp-001"))
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["sent", "skipped", "skipped"]
        assert notifying.digests_due(rt) == []

    [digest] = peers.mail.messages()
    assert digest.rcpt_tos == ["alex.morgan@example.nhs.uk"]
    assert digest.subject == "Liaison daily summary for 2026-09-08: 6 updates"
    assert "Prescription ready to collect" in digest.body
    assert "Their reason: Please see the practice nurse first" in digest.body
    with UnitOfWork(rt.session_factory) as uow:
        mine = [
            (n.status, n.batch_id)
            for rid in (first, second)
            for n in uow.notifications.for_recommendation(rid)
            if n.recipient == "practitioner"
        ]
    assert len(mine) == 6
    assert len(set(mine)) == 1
    assert mine[0][0] == "sent"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A case-management app's webhook endpoint: records what arrives, answers as told."""
    received: list[dict[str, Any]] = []
    answers: list[int] = []
    app = FastAPI()

    @app.post("/hooks/liaison")
    async def hook(request: Request) -> Response:
        body = await request.body()
        status = answers.pop(0) if answers else 204
        received.append(
            {
                "genuine": verify(WEBHOOK_SECRET, dict(request.headers), body),
                "event_id": request.headers.get(EVENT_ID_HEADER),
                "body": json.loads(body),
                "status": status,
            }
        )
        return Response(status_code=status)

    with serve(app) as url:
        yield f"{url}/hooks/liaison", received, answers


def _subscribe(rt: Runtime, url: str) -> None:
    # Straight into the store, as a subscription made before the API checked URLs would be.
    with UnitOfWork(rt.session_factory) as uow:
        now = datetime.now(UTC)
        uow.engagement.set_webhook(
            WebhookSubscription(
                organisation_ods="RX3",
                url=url,
                secret=WEBHOOK_SECRET,
                created_at=now,
                updated_at=now,
            )
        )
        uow.commit()


def _host_port(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port}"


def test_the_case_management_app_gets_each_event_signed_once_despite_failures(
    tmp_path: Path, peers: Peers, receiver: tuple[str, list[dict[str, Any]], list[int]]
) -> None:
    url, received, answers = receiver
    peers.reset()
    # The receiver listens on loopback: the operator's allow-list is what lets it in.
    rt = make_runtime(
        f"sqlite:///{tmp_path}/hooks.db",
        peers,
        webhooks=WebhookSettings(allowed_hosts=[_host_port(url)]),
    )
    rec_id = submit(rt, "Y00002")
    run_notify_tasks(rt, queued_notifications(rt))  # the care team's flag, before subscribing
    _subscribe(rt, url)
    _apply(rt, rec_id, "delivered")
    answers.extend([503, 503, 503])  # more than the in-process retries absorb
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        outcomes = run_notify_tasks(rt, queued_notifications(rt))
        assert outcomes.count("pending") == 1  # the webhook waits; the emails went
        assert set(outcomes) == {"pending", "sent"}
        traveller.shift(timedelta(seconds=5))
        now = datetime.now(UTC)
        with UnitOfWork(rt.session_factory) as uow:
            due = uow.notifications.stuck(now=now, pending_before=now, limit=10)
        assert run_notify_tasks(rt, due, times=2) == ["sent", "skipped"]

    assert all(r["genuine"] for r in received)
    assert [r["status"] for r in received] == [503, 503, 503, 204]
    assert len({r["event_id"] for r in received}) == 1
    body = received[-1]["body"]
    assert body["event"] == "delivered"
    assert body["recommendation"]["id"] == rec_id
    assert body["recommendation"]["url"].endswith(f"/v1/recommendations/{rec_id}")
    # Ids and status words only: nothing that identifies the service user.
    assert "9434765919" not in json.dumps(body)
    assert "Taylor" not in json.dumps(body)


def test_a_webhook_into_liaisons_own_network_is_never_posted(
    rt: Runtime, receiver: tuple[str, list[dict[str, Any]], list[int]]
) -> None:
    """A stored subscription to a loopback listener, with no allow-list: the worker refuses
    before connecting, and the notification says why, the same whether anything listens."""
    url, received, _answers = receiver
    rec_id = submit(rt, "Y00002")
    run_notify_tasks(rt, queued_notifications(rt))
    port = httpx.URL(url).port
    _subscribe(rt, url.replace("127.0.0.1", "2130706433"))  # another spelling, same place
    _apply(rt, rec_id, "delivered")
    outcomes = run_notify_tasks(rt, queued_notifications(rt))

    assert received == []
    assert "failed" in outcomes
    with UnitOfWork(rt.session_factory) as uow:
        [(status, error)] = [
            (n.status, n.error)
            for n in uow.notifications.for_recommendation(rec_id)
            if n.channel == "webhook"
        ]
    assert status == "failed"
    assert error is not None
    assert "public internet host" in error
    assert str(port) not in error  # nothing about whether that port answered


def test_each_message_kind_uses_its_own_notify_template(tmp_path: Path, peers: Peers) -> None:
    peers.reset()
    ready_template = "0b5c2a4e-3d3f-4a55-9a4e-6f1c2b3d4e5f"
    rt = make_runtime(
        f"sqlite:///{tmp_path}/templates.db",
        peers,
        notify=NotifySettings(templates=NotifyTemplates(ready_to_collect_sms=ready_template)),
    )
    rec_id = submit(rt, "Y00001")
    for status in ("delivered", "accepted", "prescription-issued", "ready-to-collect"):
        _apply(rt, rec_id, status)
    _raise(rt, rec_id, "collection-reminder-1")
    run_notify_tasks(rt, queued_notifications(rt))
    by_body = {t["body"][:40]: t["template_id"] for t in peers.texts()}
    assert sorted(by_body.values()) == sorted(
        [ready_template, rt.settings.notify.sms_template_id]  # the reminder: the generic one
    )
    [ready] = [t for t in peers.texts() if t["template_id"] == ready_template]
    assert "ready to collect" in ready["body"]
