"""The MESH route through the real delivery worker and inbox poller, against NHS England's
mesh-sandbox (its own process, real MESH authentication), with the simulated MESH practice
answering as a practice system: GP Connect Send Document out, ITK3 responses back.

Checked here, by the guide's and the standard's identifiers: the workflow ids (Send
Document v2 "Using MESH"), one message per delivery reused on retries and a new version of
the same document for a withdrawal (payload structure), and the ITK3 response patterns
(infrastructure then business response; any negative code is fatal)."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from mesh_client import MeshClient

from adapters.errors import PermanentAdapterError
from adapters.standins.mesh_practice import PracticeScript, SimulatedMeshPractice
from fhir_profiles.send_document.contract import ACK_WORKFLOW_ID, WORKFLOW_ID, ResponseKind
from fhir_profiles.send_document.responses import build_itk_response
from gateway.practice_directory import (
    DEV_MESH_FILING,
    DEV_MESH_FILING_MAILBOX,
    DEV_MESH_REFUSING,
    DEV_MESH_REFUSING_MAILBOX,
    dev_mesh_directory,
    seed,
)
from gateway.services import withdrawals
from gateway.services.replay import replay_delivery
from gateway.settings import DevelopmentSettings, MeshSettings, Settings
from gateway.store.models import Delivery
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import Peers, make_runtime, running_peers, submit
from tests.mesh_letters import composition, letter_text
from tests.peers.servers import (
    LIAISON_MAILBOX,
    MESH_PASSWORD,
    MESH_SHARED_KEY,
    PRACTICE_MAILBOX,
    MeshSandbox,
    mesh_sandbox,
)
from tests.settings_support import merged
from workers import chasing, delivery, gp_systems, polling
from workers.runtime import PracticeEndpoint, Runtime


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSandbox]:
    with mesh_sandbox(tmp_path_factory.mktemp("mesh")) as running:
        yield running


def _runtime(tmp_path: Path, peers: Peers, sandbox: MeshSandbox, **overrides: Any) -> Runtime:
    mesh = MeshSettings(
        url=sandbox.url,
        mailbox=LIAISON_MAILBOX,
        password=MESH_PASSWORD,
        shared_key=MESH_SHARED_KEY,
        tracking_interval_seconds=0.001,
    )
    rt = make_runtime(f"sqlite:///{tmp_path}/mesh.db", peers, **merged({"mesh": mesh}, overrides))
    with UnitOfWork(rt.session_factory) as uow:
        seed(uow, dev_mesh_directory())
    return replace(rt, mesh_mailbox=gp_systems.mesh_mailbox_factory(rt.settings))


@pytest.fixture
def rt(tmp_path: Path, peers: Peers, sandbox: MeshSandbox) -> Iterator[Runtime]:
    peers.reset()
    sandbox.reset()
    runtime = _runtime(tmp_path, peers, sandbox)
    yield runtime
    mailbox = runtime.mesh_mailbox()
    if mailbox is not None:
        mailbox.close()


@pytest.fixture
def practice(sandbox: MeshSandbox) -> Iterator[SimulatedMeshPractice]:
    """The practice that files every letter, at its own mailbox."""
    with MeshClient(
        sandbox.url, DEV_MESH_FILING_MAILBOX, MESH_PASSWORD, shared_key=MESH_SHARED_KEY.encode()
    ) as client:
        yield SimulatedMeshPractice(client, mailbox=DEV_MESH_FILING_MAILBOX)


@pytest.fixture
def refusing(sandbox: MeshSandbox) -> Iterator[SimulatedMeshPractice]:
    """A practice scripted to refuse (30003: patient no longer at this clinical setting)."""
    with MeshClient(
        sandbox.url, DEV_MESH_REFUSING_MAILBOX, MESH_PASSWORD, shared_key=MESH_SHARED_KEY.encode()
    ) as client:
        yield SimulatedMeshPractice(
            client, PracticeScript(business="30003"), mailbox=DEV_MESH_REFUSING_MAILBOX
        )


def _requests(rt: Runtime, rec_id: str, purpose: str = "request") -> list[Delivery]:
    with UnitOfWork(rt.session_factory) as uow:
        found = [d for d in uow.deliveries.for_recommendation(rec_id) if d.purpose == purpose]
        for d in found:
            uow.session.expunge(d)
        return found


def _status(rt: Runtime, rec_id: str) -> str:
    with UnitOfWork(rt.session_factory) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        return rec.status


def _timeline(rt: Runtime, rec_id: str) -> list[str]:
    with UnitOfWork(rt.session_factory) as uow:
        return [f"{e.status}: {e.detail or ''}" for e in uow.recommendations.timeline(rec_id)]


def _sent(rt: Runtime, ods: str) -> tuple[str, Delivery]:
    rec_id = submit(rt, ods)
    (request,) = _requests(rt, rec_id)
    assert delivery.deliver(rt, request.id) == "delivered"
    (sent,) = _requests(rt, rec_id)
    return rec_id, sent


def test_a_request_is_filed_by_the_practice_and_only_then_delivered(
    rt: Runtime, practice: SimulatedMeshPractice
) -> None:
    rec_id, sent = _sent(rt, DEV_MESH_FILING)
    # MESH took it: in transit, not yet delivered.
    assert (sent.state, sent.remote_status) == ("delivered", "accepted")
    waiting = _status(rt, rec_id)
    assert waiting in ("received", "queued")

    [answer] = practice.answer_waiting()

    assert answer.workflow_id == WORKFLOW_ID
    assert answer.codes == ("20013", "30001")
    letter = letter_text(answer)
    assert "varenicline" in letter.lower()
    assert "clozapine" in letter.lower()  # the clinical-safety flag
    assert polling.read_mesh_inbox(rt) == 2
    assert _status(rt, rec_id) == "delivered"
    timeline = _timeline(rt, rec_id)
    assert f"{waiting}: request received by the practice system" in timeline
    assert "delivered: filed in the practice's workflow (ITK3 business response)" in timeline
    (filed,) = _requests(rt, rec_id)
    assert filed.remote_status == "filed"
    # Liaison acknowledged what it read: nothing is left in its mailbox.
    mailbox = rt.mesh_mailbox()
    assert mailbox is not None
    assert mailbox.inbox() == []


def test_a_negative_business_response_fails_it_and_a_replay_sends_the_same_document(
    rt: Runtime, refusing: SimulatedMeshPractice
) -> None:
    rec_id, _ = _sent(rt, DEV_MESH_REFUSING)
    [first] = refusing.answer_waiting()
    assert first.codes == ("20013", "30003")
    polling.read_mesh_inbox(rt)

    assert _status(rt, rec_id) == "delivery-failed"
    (dead,) = _requests(rt, rec_id)
    assert (dead.state, dead.remote_status) == ("dead", "refused")
    assert dead.last_error is not None
    assert "ITK3 business response 30003" in dead.last_error
    assert "Patient no longer at this clinical setting" in dead.last_error
    assert "telephone the practice" in dead.last_error  # what the practitioner does now
    assert any("30003" in line for line in _timeline(rt, rec_id) if "delivery-failed" in line)

    with UnitOfWork(rt.session_factory) as uow:
        replay_id = replay_delivery(uow, dead.id, now=datetime.now(UTC))
        uow.commit()
    assert delivery.deliver(rt, replay_id) == "delivered"
    [again] = refusing.answer_waiting()
    # Sent once more, as a new message carrying the same document, same version.
    first_document, second_document = composition(first), composition(again)
    assert second_document["identifier"] == first_document["identifier"]
    assert second_document["meta"]["versionId"] == first_document["meta"]["versionId"] == "1"
    assert again.document is not None
    assert first.document is not None
    assert again.document["id"] != first.document["id"]


def test_cancelling_a_filed_request_sends_a_withdrawal_letter_the_practice_files(
    rt: Runtime, practice: SimulatedMeshPractice
) -> None:
    rec_id, _ = _sent(rt, DEV_MESH_FILING)
    [request] = practice.answer_waiting()
    polling.read_mesh_inbox(rt)
    with UnitOfWork(rt.session_factory) as uow:
        assert withdrawals.cancel(uow, rec_id, reason="Stopped smoking", now=datetime.now(UTC))
        uow.commit()
    (withdrawal,) = _requests(rt, rec_id, "withdrawal")

    assert delivery.deliver(rt, withdrawal.id) == "delivered"
    [answer] = practice.answer_waiting()
    assert answer.workflow_id == WORKFLOW_ID
    withdrawn, original = composition(answer), composition(request)
    # The same document, one version on, replacing the request's.
    assert withdrawn["identifier"] == original["identifier"]
    assert (original["meta"]["versionId"], withdrawn["meta"]["versionId"]) == ("1", "2")
    assert [r["code"] for r in withdrawn["relatesTo"]] == ["replaces"]
    assert "withdrawn" in letter_text(answer).lower() or "withdrawal" in letter_text(answer).lower()
    polling.read_mesh_inbox(rt)

    assert _status(rt, rec_id) == "cancelled"
    timeline = _timeline(rt, rec_id)
    assert "cancelled: withdrawal filed in the practice's workflow" in timeline


def test_no_business_response_in_time_dead_letters_it(
    tmp_path: Path, peers: Peers, sandbox: MeshSandbox
) -> None:
    sandbox.reset()
    rt = _runtime(tmp_path, peers, sandbox, mesh=MeshSettings(response_timeout_seconds=60.0))
    rec_id, sent = _sent(rt, DEV_MESH_FILING)
    with UnitOfWork(rt.session_factory) as uow:
        row = uow.deliveries.get(sent.id)
        assert row is not None
        row.delivered_at = datetime.now(UTC) - timedelta(minutes=2)
        uow.commit()

    assert polling.poll_practice(rt, DEV_MESH_FILING) == 1

    assert _status(rt, rec_id) == "delivery-failed"
    (dead,) = _requests(rt, rec_id)
    assert dead.state == "dead"
    assert "no ITK3 business response" in (dead.last_error or "")


def test_unknown_and_hostile_inbox_messages_are_acknowledged_and_change_nothing(
    rt: Runtime, sandbox: MeshSandbox
) -> None:
    rec_id, _ = _sent(rt, DEV_MESH_FILING)
    hostile = MeshClient(
        sandbox.url, PRACTICE_MAILBOX, MESH_PASSWORD, shared_key=MESH_SHARED_KEY.encode()
    )
    try:
        for workflow_id, body in (
            (ACK_WORKFLOW_ID, b"\x00\xff not json"),
            (ACK_WORKFLOW_ID, b'{"resourceType": "Bundle", "type": "message", "entry": 7}'),
            (ACK_WORKFLOW_ID, json.dumps({"resourceType": "Bundle", "entry": [{}] * 3}).encode()),
            ("LIAISON_MEDREC_ACK", b'{"resourceType": "Task"}'),
        ):
            hostile.send_message(LIAISON_MAILBOX, body, workflow_id=workflow_id)
    finally:
        hostile.close()

    assert polling.read_mesh_inbox(rt) == 4

    mailbox = rt.mesh_mailbox()
    assert mailbox is not None
    assert mailbox.inbox() == []
    assert _status(rt, rec_id) in ("received", "queued")


def test_a_mesh_non_delivery_report_dead_letters_it(rt: Runtime, sandbox: MeshSandbox) -> None:
    rec_id, sent = _sent(rt, DEV_MESH_FILING)
    httpx.post(
        f"{sandbox.url}/messageexchange/admin/report",
        json={
            "mailbox_id": LIAISON_MAILBOX,
            "code": "14",
            "description": "Message not collected by recipient after 5 days",
            "workflow_id": WORKFLOW_ID,
            "local_id": sent.id,
            "linked_message_id": sent.remote_reference,
            "status": "error",
        },
        timeout=5,
    ).raise_for_status()

    assert polling.read_mesh_inbox(rt) == 1

    assert _status(rt, rec_id) == "delivery-failed"
    (dead,) = _requests(rt, rec_id)
    assert "not collected by recipient" in (dead.last_error or "")


def test_a_chase_up_is_the_next_version_of_the_letter(
    tmp_path: Path, peers: Peers, sandbox: MeshSandbox, practice: SimulatedMeshPractice
) -> None:
    sandbox.reset()
    # A "working day" of a millisecond: the chase-up falls due at once.
    rt = _runtime(
        tmp_path, peers, sandbox, development=DevelopmentSettings(working_day_seconds=0.001)
    )
    rec_id, _ = _sent(rt, DEV_MESH_FILING)
    [request] = practice.answer_waiting()
    polling.read_mesh_inbox(rt)
    assert _status(rt, rec_id) == "delivered"

    published: list[str] = []
    chasing.chase_due(rt, published.append)
    assert [chasing.send_chase_up(rt, chase_up_id) for chase_up_id in published] == ["sent"]

    [chase_up] = practice.answer_waiting()
    assert chase_up.workflow_id == WORKFLOW_ID
    chased, original = composition(chase_up), composition(request)
    assert chased["identifier"] == original["identifier"]
    assert (original["meta"]["versionId"], chased["meta"]["versionId"]) == ("1", "2")
    assert [r["code"] for r in chased["relatesTo"]] == ["replaces"]
    assert "varenicline" in letter_text(chase_up).lower()
    # Its responses go on the timeline; the request stays as it was.
    assert polling.read_mesh_inbox(rt) == 2
    assert _status(rt, rec_id) == "delivered"
    timeline = _timeline(rt, rec_id)
    assert "delivered: chase-up 1 received by the practice system" in timeline
    assert "delivered: chase-up 1 filed in the practice's workflow" in timeline


def test_a_withdrawal_awaiting_its_responses_is_still_followed(
    rt: Runtime, practice: SimulatedMeshPractice
) -> None:
    # Its recommendation no longer awaits the practice (cancelled), but the withdrawal letter
    # still waits for the practice system's responses, and for their deadline.
    rec_id, _ = _sent(rt, DEV_MESH_FILING)
    practice.answer_waiting()
    polling.read_mesh_inbox(rt)
    with UnitOfWork(rt.session_factory) as uow:
        assert withdrawals.cancel(uow, rec_id, reason="Stopped smoking", now=datetime.now(UTC))
        uow.commit()
    (withdrawal,) = _requests(rt, rec_id, "withdrawal")
    assert delivery.deliver(rt, withdrawal.id) == "delivered"

    assert DEV_MESH_FILING in polling.practices_to_poll(rt)


def test_a_response_is_matched_by_the_sender_reference_it_echoes(
    rt: Runtime, sandbox: MeshSandbox
) -> None:
    # A practice system that could not keep the message id still echoes SenderReference.
    rec_id, sent = _sent(rt, DEV_MESH_FILING)
    with MeshClient(
        sandbox.url, DEV_MESH_FILING_MAILBOX, MESH_PASSWORD, shared_key=MESH_SHARED_KEY.encode()
    ) as client:
        [message_id] = client.list_messages()
        with client.retrieve_message(message_id) as received:
            body = received.read()
        response = json.loads(build_itk_response(body, kind=ResponseKind.BUSINESS, code="30001"))
        [header] = [
            e["resource"]
            for e in response["entry"]
            if e["resource"]["resourceType"] == "MessageHeader"
        ]
        header["response"]["identifier"] = str(uuid.uuid4())  # not any message of Liaison's
        client.send_message(
            LIAISON_MAILBOX, json.dumps(response).encode(), workflow_id=ACK_WORKFLOW_ID
        )

    assert polling.read_mesh_inbox(rt) == 1

    assert _status(rt, rec_id) == "delivered"
    (filed,) = _requests(rt, rec_id)
    assert (filed.id, filed.remote_status) == (sent.id, "filed")


def test_a_stored_entry_naming_an_invented_workflow_sends_nothing() -> None:
    # A row written before workflow ids were checked (Liaison's old LIAISON_MEDREC): the
    # workers refuse it, saying why, whatever the database holds.
    settings = Settings(
        mesh=MeshSettings(url="http://127.0.0.1:9", mailbox="X26ABC1", password="p")
    )
    build = gp_systems.gp_system_factory(settings, gp_systems.mesh_mailbox_factory(settings))
    options = json.dumps({"mailbox": "X26ABC2", "workflow_id": "LIAISON_MEDREC"})
    gp = build(PracticeEndpoint("A81002", "mesh", None, options))
    with pytest.raises(PermanentAdapterError, match="not a registered MESH workflow id"):
        gp.submit(cast(Any, None))
