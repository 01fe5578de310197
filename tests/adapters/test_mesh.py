"""The MESH adapter against NHS England's mesh-sandbox, run as its own process with real
MESH authentication. The test plays the practice with mesh-client on the practice's mailbox."""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from mesh_client import MeshClient

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.gp_system import Delivery
from adapters.mesh import (
    MeshGPSystem,
    MeshMailbox,
    MeshMailboxConfig,
    Tracking,
    parse_reply,
    tracking_outcome,
)
from fhir_profiles import systems
from fhir_profiles.task_status import task_fields_for
from tests.conftest import free_port
from tests.peers.servers import (
    LIAISON_MAILBOX,
    MESH_PASSWORD,
    MESH_SHARED_KEY,
    PRACTICE_MAILBOX,
    MeshSandbox,
    mesh_sandbox,
)

WORKFLOW = "LIAISON_MEDREC"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSandbox]:
    with mesh_sandbox(tmp_path_factory.mktemp("mesh")) as running:
        yield running


@pytest.fixture
def liaison(sandbox: MeshSandbox) -> Iterator[MeshMailbox]:
    sandbox.reset()
    mailbox = MeshMailbox(
        MeshMailboxConfig(
            url=sandbox.url,
            mailbox=LIAISON_MAILBOX,
            password=MESH_PASSWORD,
            shared_key=MESH_SHARED_KEY,
            timeout=5,
        )
    )
    yield mailbox
    mailbox.close()


@pytest.fixture
def practice(sandbox: MeshSandbox) -> Iterator[MeshClient]:
    client = MeshClient(
        sandbox.url, PRACTICE_MAILBOX, MESH_PASSWORD, shared_key=MESH_SHARED_KEY.encode()
    )
    yield client
    client.close()


def _delivery(recommendation_id: str | None = None) -> Delivery:
    recommendation_id = recommendation_id or str(uuid.uuid4())
    task = {
        "resourceType": "Task",
        "identifier": [{"system": systems.RECOMMENDATION_ID, "value": recommendation_id}],
        "status": "requested",
        "intent": "order",
    }
    return Delivery(
        delivery_id=str(uuid.uuid4()),
        recommendation_id=recommendation_id,
        ods_code="A81002",
        bundle={"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": task}]},
    )


def _gp(mailbox: MeshMailbox) -> MeshGPSystem:
    return MeshGPSystem(mailbox=mailbox, practice_mailbox=PRACTICE_MAILBOX, workflow_id=WORKFLOW)


def test_a_delivery_reaches_the_practice_mailbox_with_workflow_and_local_id(
    liaison: MeshMailbox, practice: MeshClient
) -> None:
    delivery = _delivery()
    receipt = _gp(liaison).submit(delivery)

    assert receipt.created
    assert receipt.in_transit
    assert receipt.remote_reference
    assert practice.list_messages() == [receipt.remote_reference]
    with practice.retrieve_message(receipt.remote_reference) as message:
        assert message.workflow_id == WORKFLOW
        assert message.local_id == delivery.delivery_id
        assert message.sender == LIAISON_MAILBOX
        assert json.loads(message.read()) == delivery.bundle
        # No patient detail travels in MESH headers.
        assert "Sam" not in (message.subject or "")


def test_sending_the_same_delivery_again_does_not_send_twice(
    liaison: MeshMailbox, practice: MeshClient
) -> None:
    delivery = _delivery()
    first = _gp(liaison).submit(delivery)
    again = _gp(liaison).submit(delivery)

    assert again.remote_reference == first.remote_reference
    assert not again.created
    assert practice.list_messages() == [first.remote_reference]


def test_tracking_follows_the_message_until_the_practice_acknowledges_it(
    liaison: MeshMailbox, practice: MeshClient
) -> None:
    receipt = _gp(liaison).submit(_delivery())
    assert receipt.remote_reference is not None
    sent_at = datetime.now(UTC)

    before = liaison.track(receipt.remote_reference)
    assert tracking_outcome(before, sent_at=sent_at, now=datetime.now(UTC)) == "accepted"

    practice.acknowledge_message(receipt.remote_reference)
    after = liaison.track(receipt.remote_reference)
    assert tracking_outcome(after, sent_at=sent_at, now=datetime.now(UTC)) == "acknowledged"


def test_a_message_mesh_marks_in_error_is_a_failure(
    liaison: MeshMailbox, sandbox: MeshSandbox
) -> None:
    receipt = _gp(liaison).submit(_delivery())
    assert receipt.remote_reference is not None
    sandbox.add_event(
        receipt.remote_reference,
        status="error",
        event="TRANSFER",
        code="14",
        description="Message not collected by recipient after 5 days",
    )
    tracking = liaison.track(receipt.remote_reference)
    assert tracking_outcome(tracking, sent_at=datetime.now(UTC), now=datetime.now(UTC)) == "failed"


def test_an_unacknowledged_message_expires_after_five_days() -> None:
    sent = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    waiting = Tracking("M1", "accepted", True, None, sent)
    assert tracking_outcome(waiting, sent_at=sent, now=sent + timedelta(days=4, hours=23)) == (
        "accepted"
    )
    assert tracking_outcome(waiting, sent_at=sent, now=sent + timedelta(days=5)) == "expired"


def test_a_practice_reply_is_read_from_liaisons_mailbox_then_acknowledged(
    liaison: MeshMailbox, practice: MeshClient
) -> None:
    recommendation_id = str(uuid.uuid4())
    reply: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": systems.RECOMMENDATION_ID, "value": recommendation_id}],
        "intent": "order",
        **task_fields_for("rejected", detail="Patient not registered here"),
    }
    practice.send_message(
        LIAISON_MAILBOX,
        json.dumps(reply).encode(),
        workflow_id=f"{WORKFLOW}_ACK",
        content_type="application/fhir+json",
    )

    [message_id] = liaison.inbox()
    message = liaison.read(message_id)
    assert message.sender == PRACTICE_MAILBOX
    assert message.message_type == "DATA"
    [report] = parse_reply(message.body)
    assert (report.recommendation_id, report.status) == (recommendation_id, "rejected")
    assert report.detail == "Patient not registered here"

    liaison.acknowledge(message_id)
    assert liaison.inbox() == []


def test_a_bundle_reply_carries_several_tasks() -> None:
    tasks = [
        {
            "resourceType": "Task",
            "identifier": [{"system": systems.RECOMMENDATION_ID, "value": rid}],
            **task_fields_for(status),
        }
        for rid, status in (("r1", "accepted"), ("r2", "ready-to-collect"))
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": t} for t in tasks],
    }
    reports = parse_reply(json.dumps(bundle).encode())
    assert [(r.recommendation_id, r.status) for r in reports] == [
        ("r1", "accepted"),
        ("r2", "ready-to-collect"),
    ]
    with pytest.raises(ValueError, match="not JSON"):
        parse_reply(b"<xml/>")


def test_a_non_delivery_report_names_the_delivery(
    liaison: MeshMailbox, sandbox: MeshSandbox
) -> None:
    delivery = _delivery()
    httpx.post(
        f"{sandbox.url}/messageexchange/admin/report",
        json={
            "mailbox_id": LIAISON_MAILBOX,
            "code": "14",
            "description": "Message not collected by recipient after 5 days",
            "workflow_id": WORKFLOW,
            "local_id": delivery.delivery_id,
            "linked_message_id": "ABC123",
            "status": "error",
        },
        timeout=5,
    ).raise_for_status()
    [message_id] = liaison.inbox()
    report = liaison.read(message_id)
    assert report.message_type == "REPORT"
    assert report.local_id == delivery.delivery_id
    assert report.linked_message_id == "ABC123"
    assert "not collected" in (report.status_description or "")


def test_an_unknown_practice_mailbox_is_a_permanent_error(liaison: MeshMailbox) -> None:
    gp = MeshGPSystem(mailbox=liaison, practice_mailbox="NOSUCHBOX", workflow_id=WORKFLOW)
    with pytest.raises(PermanentAdapterError):
        gp.submit(_delivery())


def test_a_wrong_password_is_a_permanent_error(sandbox: MeshSandbox) -> None:
    mailbox = MeshMailbox(
        MeshMailboxConfig(
            url=sandbox.url, mailbox=LIAISON_MAILBOX, password="wrong", shared_key=MESH_SHARED_KEY
        )
    )
    try:
        with pytest.raises(PermanentAdapterError) as refused:
            mailbox.handshake()
        assert refused.value.status_code == 403
        assert not _gp(mailbox).health()
    finally:
        mailbox.close()


def test_mesh_out_of_reach_is_a_transient_error(tmp_path: Path) -> None:
    mailbox = MeshMailbox(
        MeshMailboxConfig(
            url=f"http://127.0.0.1:{free_port()}",
            mailbox=LIAISON_MAILBOX,
            password=MESH_PASSWORD,
            shared_key=MESH_SHARED_KEY,
            timeout=2,
        )
    )
    try:
        with pytest.raises(TransientAdapterError):
            _gp(mailbox).submit(_delivery())
    finally:
        mailbox.close()


def test_handshake_succeeds_with_the_right_credentials(liaison: MeshMailbox) -> None:
    liaison.handshake()
    assert _gp(liaison).health()
