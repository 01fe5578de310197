"""A message that waited (quiet hours, a digest, a retry, a slow broker) is checked against
the recommendation's status when it is about to go: one that no longer holds is recorded as
superseded, with the reason, and never reaches anyone; one that still holds goes.

Real SQLite database, real SMTP mail sink and GOV.UK Notify sink, the worker's own
functions; time-machine moves the clock across quiet hours and digest times."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import time_machine
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.domain.audience import UK
from gateway.security.tokens import issue_token
from gateway.services.status_updates import StatusChange, apply_status, record_event
from gateway.settings import AudienceSettings, WebhookSettings
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

QUIET_EVENING = datetime(2026, 9, 8, 22, 30, tzinfo=UK)  # a Tuesday, inside 21:00-08:00
NEXT_MORNING = datetime(2026, 9, 9, 8, 0, 5, tzinfo=UK)
PHARMACY = "Boots, 1 High Street"


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


@pytest.fixture
def rt(tmp_path: Path, peers: Peers) -> Runtime:
    peers.reset()
    return make_runtime(f"sqlite:///{tmp_path}/superseded.db", peers)


@pytest.fixture
def quiet_rt(tmp_path: Path, peers: Peers) -> Runtime:
    """Quiet hours as deployed: no texts to service users from 21:00 to 08:00 UK time."""
    peers.reset()
    return make_runtime(
        f"sqlite:///{tmp_path}/quiet.db",
        peers,
        audience=AudienceSettings(
            quiet_hours_start=datetime(2026, 1, 1, 21).time(),
            quiet_hours_end=datetime(2026, 1, 1, 8).time(),
        ),
    )


def _apply(rt: Runtime, rec_id: str, *statuses: str, **extra: str) -> None:
    for status in statuses:
        with UnitOfWork(rt.session_factory) as uow:
            applied = apply_status(
                uow, StatusChange(rec_id, status, source="poll", **extra), now=datetime.now(UTC)
            )
            uow.commit()
        assert applied, status


def _raise(rt: Runtime, rec_id: str, event: str) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        record_event(uow, rec, event, now=datetime.now(UTC))
        uow.commit()


@dataclass(frozen=True)
class Told:
    status: str
    reason: str | None
    channel: str


def _rows(rt: Runtime, rec_id: str) -> dict[tuple[str, str], Told]:
    with UnitOfWork(rt.session_factory) as uow:
        return {
            (n.event, n.recipient): Told(n.status, n.error, n.channel)
            for n in uow.notifications.for_recommendation(rec_id)
        }


def _ids_for(rt: Runtime, rec_id: str, event: str) -> list[str]:
    with UnitOfWork(rt.session_factory) as uow:
        return [n.id for n in uow.notifications.for_recommendation(rec_id) if n.event == event]


def _send_due(rt: Runtime) -> list[str]:
    """What the beat's sweep does for every message whose time has come."""
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        due = uow.notifications.stuck(now=now, pending_before=now, limit=100)
    return run_notify_tasks(rt, due)


def _texts_and_mail(peers: Peers) -> list[str]:
    return [t["body"] for t in peers.texts()] + [m.subject for m in peers.mail.messages()]


# --- the headline case: a text held back overnight -------------------------------------


def test_deferred_ready_sms_is_superseded_after_collection(quiet_rt: Runtime, peers: Peers) -> None:
    with time_machine.travel(QUIET_EVENING, tick=False) as traveller:
        rec_id = submit(quiet_rt, "Y00001")
        run_notify_tasks(quiet_rt, queued_notifications(quiet_rt))  # the safety flag
        _apply(quiet_rt, rec_id, "delivered", "prescription-issued")
        _apply(quiet_rt, rec_id, "ready-to-collect", pharmacy=PHARMACY)
        outcomes = run_notify_tasks(quiet_rt, _ids_for(quiet_rt, rec_id, "ready-to-collect"))
        assert sorted(outcomes) == ["deferred", "sent"]  # the text waits, the email goes
        assert peers.texts() == []

        # Collected first thing, before the text's 08:00.
        traveller.move_to(datetime(2026, 9, 9, 7, 40, tzinfo=UK))
        _apply(quiet_rt, rec_id, "collected")
        traveller.move_to(NEXT_MORNING)
        assert "superseded" in _send_due(quiet_rt)

    assert peers.texts() == []
    told = _rows(quiet_rt, rec_id)[("ready-to-collect", "service-user")]
    assert (told.status, told.channel) == ("superseded", "sms")
    assert told.reason == "the prescription is no longer waiting to be collected (now collected)"


def test_deferred_appointment_sms_is_superseded_once_the_practice_moves_on(
    quiet_rt: Runtime, peers: Peers
) -> None:
    with time_machine.travel(QUIET_EVENING, tick=False) as traveller:
        rec_id = submit(quiet_rt, "Y00003")
        run_notify_tasks(quiet_rt, queued_notifications(quiet_rt))
        _apply(quiet_rt, rec_id, "delivered", "appointment-needed")
        ids = _ids_for(quiet_rt, rec_id, "appointment-needed")
        assert sorted(run_notify_tasks(quiet_rt, ids)) == ["deferred", "sent"]
        # The practice decides overnight that it will prescribe without seeing them.
        _apply(quiet_rt, rec_id, "prescription-issued")
        traveller.move_to(NEXT_MORNING)
        _send_due(quiet_rt)

    assert peers.texts() == []
    told = _rows(quiet_rt, rec_id)[("appointment-needed", "service-user")]
    assert told.status == "superseded"
    assert told.reason == (
        "the practice has moved on: no appointment is asked for (now prescription-issued)"
    )


def test_a_deferred_text_that_still_holds_goes_at_eight(quiet_rt: Runtime, peers: Peers) -> None:
    with time_machine.travel(QUIET_EVENING, tick=False) as traveller:
        rec_id = submit(quiet_rt, "Y00001")
        run_notify_tasks(quiet_rt, queued_notifications(quiet_rt))
        _apply(quiet_rt, rec_id, "delivered")
        _apply(quiet_rt, rec_id, "ready-to-collect", pharmacy=PHARMACY)
        run_notify_tasks(quiet_rt, queued_notifications(quiet_rt))
        traveller.move_to(NEXT_MORNING)
        assert _send_due(quiet_rt) == ["sent"]
    [text] = peers.texts()
    assert "ready to collect" in text["body"]


# --- every message kind, checked when it is about to go --------------------------------


@dataclass(frozen=True)
class Case:
    practice: str
    raise_in: tuple[str, ...]  # statuses walked to raise the event (the last one raises it)
    event: str
    then: tuple[str, ...]  # what happens while it waits
    expected: dict[str, str]  # recipient -> status after the send
    reason: str | None = None


SUPERSEDED = {
    "ready-to-collect after collection": Case(
        "Y00001",
        ("delivered", "ready-to-collect"),
        "ready-to-collect",
        ("collected",),
        {"practitioner": "superseded", "service-user": "superseded"},
        "the prescription is no longer waiting to be collected (now collected)",
    ),
    "ready-to-collect after the practitioner closed it": Case(
        "Y00001",
        ("delivered", "ready-to-collect"),
        "ready-to-collect",
        ("cancelled",),
        {"practitioner": "superseded", "service-user": "superseded"},
        "the prescription is no longer waiting to be collected (now cancelled)",
    ),
    "appointment-needed after acceptance": Case(
        "Y00003",
        ("delivered", "appointment-needed"),
        "appointment-needed",
        ("accepted",),
        {"practitioner": "superseded", "service-user": "superseded"},
        "the practice has moved on: no appointment is asked for (now accepted)",
    ),
    "collection reminder after collection": Case(
        "Y00006",
        ("delivered", "ready-to-collect", "collection-reminder-1"),
        "collection-reminder-1",
        ("collected",),
        {"service-user": "superseded"},
        "the prescription is no longer waiting to be collected (now collected)",
    ),
    "chase-up after the practice acted": Case(
        "Y00007",
        ("delivered", "chase-up-1"),
        "chase-up-1",
        ("accepted",),
        {"practitioner": "superseded"},
        "the practice has acted (or it was closed): it is no longer chased (now accepted)",
    ),
    "delivery-failed after a replay": Case(
        "Y00004",
        ("delivery-failed",),
        "delivery-failed",
        ("queued",),
        {"practitioner": "superseded"},
        "the recommendation is no longer failed (replayed or closed) (now queued)",
    ),
    "accepted after the practice rejected": Case(
        "Y00001",
        ("delivered", "accepted"),
        "accepted",
        ("rejected",),
        {"practitioner": "superseded"},
        "the practice took its acceptance back by rejecting (now rejected)",
    ),
}

STILL_HOLD = {
    "delivered after a rejection": Case(
        "Y00002", ("delivered",), "delivered", ("rejected",), {"practitioner": "sent"}
    ),
    "accepted after collection": Case(
        "Y00001", ("delivered", "accepted"), "accepted", ("collected",), {"practitioner": "sent"}
    ),
    "prescription-issued after collection": Case(
        "Y00001",
        ("delivered", "prescription-issued"),
        "prescription-issued",
        ("ready-to-collect", "collected"),
        {"practitioner": "sent"},
    ),
    "a rejection (nothing follows it)": Case(
        "Y00002", ("delivered", "rejected"), "rejected", (), {"practitioner": "sent"}
    ),
    "a collection (nothing follows it)": Case(
        "Y00001", ("delivered", "collected"), "collected", (), {"practitioner": "sent"}
    ),
    "a chase-up while the practice is still silent": Case(
        "Y00007", ("delivered", "chase-up-1"), "chase-up-1", (), {"practitioner": "sent"}
    ),
    "a delivery failure nobody has replayed": Case(
        "Y00004", ("delivery-failed",), "delivery-failed", (), {"practitioner": "sent"}
    ),
    "the safety flag after cancellation": Case(
        "Y00001", (), "clinical-safety-flag", ("cancelled",), {"care-team": "sent"}
    ),
}


def _run_case(rt: Runtime, case: Case) -> tuple[str, list[str]]:
    rec_id = submit(rt, case.practice)
    queued_notifications(rt)  # the relay's job: here the test decides when each one goes
    for step in case.raise_in:
        if step.startswith(("chase-up-", "collection-reminder-")):
            _raise(rt, rec_id, step)
        else:
            _apply(rt, rec_id, step)
    waiting = _ids_for(rt, rec_id, case.event)
    _apply(rt, rec_id, *case.then)
    return rec_id, run_notify_tasks(rt, waiting, times=2)


@pytest.mark.parametrize("name", sorted(SUPERSEDED))
def test_a_waiting_message_that_no_longer_holds_is_superseded_with_its_reason(
    rt: Runtime, peers: Peers, name: str
) -> None:
    case = SUPERSEDED[name]
    rec_id, outcomes = _run_case(rt, case)
    assert set(outcomes) == {"superseded", "skipped"}
    told = {who: row for (event, who), row in _rows(rt, rec_id).items() if event == case.event}
    assert {who: row.status for who, row in told.items()} == case.expected
    assert {row.reason for row in told.values()} == {case.reason}
    assert _texts_and_mail(peers) == []


@pytest.mark.parametrize("name", sorted(STILL_HOLD))
def test_a_waiting_message_that_still_holds_is_sent(rt: Runtime, peers: Peers, name: str) -> None:
    case = STILL_HOLD[name]
    rec_id, outcomes = _run_case(rt, case)
    assert set(outcomes) == {"sent", "skipped"}
    told = {
        who: row.status for (event, who), row in _rows(rt, rec_id).items() if event == case.event
    }
    assert told == case.expected
    assert len(peers.mail.messages()) == len(case.expected)


def test_the_webhook_hears_every_event_even_after_the_recommendation_moved_on(
    tmp_path: Path, peers: Peers
) -> None:
    received: list[str] = []
    app = FastAPI()

    @app.post("/hooks")
    async def hook(request: Request) -> Response:
        received.append(json.loads(await request.body())["event"])
        return Response(status_code=204)

    with serve(app) as url:
        # The receiver listens on loopback: the operator's allow-list is what lets it in.
        peers.reset()
        parsed = httpx.URL(url)
        rt = make_runtime(
            f"sqlite:///{tmp_path}/hooks.db",
            peers,
            webhooks=WebhookSettings(allowed_hosts=[f"{parsed.host}:{parsed.port}"]),
        )
        rec_id = submit(rt, "Y00001")
        queued_notifications(rt)
        with UnitOfWork(rt.session_factory) as uow:
            now = datetime.now(UTC)
            uow.engagement.set_webhook(
                WebhookSubscription(
                    organisation_ods="RX3",
                    url=f"{url}/hooks",
                    secret="a-webhook-secret-of-at-least-32-characters",
                    created_at=now,
                    updated_at=now,
                )
            )
            uow.commit()
        _apply(rt, rec_id, "delivered", "ready-to-collect")
        waiting = _ids_for(rt, rec_id, "ready-to-collect")
        _apply(rt, rec_id, "collected")
        outcomes = run_notify_tasks(rt, waiting)
    # The people are not told it is ready; the app's feed still gets the event, with the
    # current status in its body.
    assert sorted(outcomes) == ["sent", "superseded", "superseded"]
    assert received == ["ready-to-collect"]
    assert _rows(rt, rec_id)[("ready-to-collect", "case-management")].status == "sent"


# --- the practitioner's daily digest ----------------------------------------------------


def test_a_digest_leaves_out_what_no_longer_holds_and_keeps_the_rest(
    rt: Runtime, peers: Peers
) -> None:
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
        rec_id = submit(rt, "Y00001")
        _apply(rt, rec_id, "delivered", "prescription-issued")
        _apply(rt, rec_id, "ready-to-collect", pharmacy=PHARMACY)
        run_notify_tasks(rt, queued_notifications(rt))
        traveller.move_to(datetime(2026, 9, 8, 14, 0, tzinfo=UK))
        _apply(rt, rec_id, "collected")
        run_notify_tasks(rt, queued_notifications(rt))
        peers.mail.clear()
        traveller.move_to(datetime(2026, 9, 8, 16, 0, 5, tzinfo=UK))
        assert notifying.send_digest(rt, "RX3", "mhscp-001") == "sent"

    [digest] = peers.mail.messages()
    assert digest.subject == "Liaison daily summary for 2026-09-08: 3 updates"
    assert "Prescription issued" in digest.body
    assert "Prescription collected" in digest.body
    assert "Prescription ready to collect" not in digest.body
    rows = _rows(rt, rec_id)
    assert rows[("ready-to-collect", "practitioner")].status == "superseded"
    assert {rows[(e, "practitioner")].status for e in ("delivered", "collected")} == {"sent"}


def test_a_digest_with_nothing_left_that_holds_sends_nothing(rt: Runtime, peers: Peers) -> None:
    with time_machine.travel(datetime(2026, 9, 8, 9, 0, tzinfo=UK)) as traveller:
        rec_id = submit(rt, "Y00003")
        _apply(rt, rec_id, "delivered")
        run_notify_tasks(rt, queued_notifications(rt))  # before the practitioner chose digests
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
        _apply(rt, rec_id, "appointment-needed")
        run_notify_tasks(rt, queued_notifications(rt))
        assert _rows(rt, rec_id)[("appointment-needed", "practitioner")].status == "held"
        # The practitioner withdraws it the same afternoon (nobody is emailed a cancel).
        _apply(rt, rec_id, "cancelled")
        peers.mail.clear()
        traveller.move_to(datetime(2026, 9, 8, 16, 0, 5, tzinfo=UK))
        assert notifying.digests_due(rt) == [("RX3", "mhscp-001")]
        assert notifying.send_digest(rt, "RX3", "mhscp-001") == "superseded"
        assert notifying.digests_due(rt) == []
    assert peers.mail.messages() == []
    told = _rows(rt, rec_id)[("appointment-needed", "practitioner")]
    assert told.status == "superseded"
    assert told.reason == "the practice has moved on: no appointment is asked for (now cancelled)"


def test_a_superseded_message_shows_in_the_recommendation_with_why(rt: Runtime) -> None:
    rec_id, _ = _run_case(rt, SUPERSEDED["ready-to-collect after collection"])
    app = create_app(rt.settings)
    token = issue_token(rt.settings, client_id="demo-app", organisation_ods="RX3")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        shown = client.get(f"/v1/recommendations/{rec_id}").json()
    app.state.engine.dispose()
    ready = [n for n in shown["notifications"] if n["event"] == "ready-to-collect"]
    assert {(n["recipient"], n["status"]) for n in ready} == {
        ("practitioner", "superseded"),
        ("service-user", "superseded"),
    }
    assert {n["reason"] for n in ready} == {
        "the prescription is no longer waiting to be collected (now collected)"
    }
    # A message that went says nothing more about itself.
    delivered = [n for n in shown["notifications"] if n["event"] == "delivered"]
    assert [(n["status"], n["reason"]) for n in delivered] == [("pending", None)]
