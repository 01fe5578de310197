"""The MESH route against NHS England's mesh-sandbox, run as its own process with real MESH
authentication: GP Connect Send Document messages to the practice's mailbox, found by the
directory, by MESH endpoint lookup or by automated routing; tracking; Liaison's inbox. The
test plays the practice with mesh-client on the practice's mailbox."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from mesh_client import MeshClient

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.gp_system import Delivery
from adapters.mesh import MeshMailbox, MeshMailboxConfig, Tracking, tracking_outcome
from adapters.mesh_gp import MeshGPSystem, itk_message_id, workflow_problem
from fhir_profiles.builders import build_resources
from fhir_profiles.builders_bundle import build_transaction_bundle
from fhir_profiles.send_document.contract import (
    ACK_WORKFLOW_ID,
    WORKFLOW_ID,
    DocumentEnvelope,
    DocumentKind,
    SendingOrganisation,
)
from fhir_profiles.send_document.message import build_send_document, mesh_address, mesh_subject
from tests.conftest import refusing_port
from tests.fhir_profiles.factories import make_facts
from tests.peers.servers import (
    LIAISON_MAILBOX,
    MESH_PASSWORD,
    MESH_SHARED_KEY,
    PRACTICE_MAILBOX,
    MeshSandbox,
    mesh_sandbox,
)

# mesh-sandbox's canned workflow (its store/data/workflows.jsonl): the only one its endpoint
# lookup answers for, with the practice mailbox X26ABC2 of organisation X26.
SANDBOX_WORKFLOW = "TEST_WORKFLOW"
SENDER = SendingOrganisation("X26", "Demonstration Mental Health Trust", "020 7946 0000")


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


def _delivery(kind: DocumentKind = DocumentKind.REQUEST, version: int = 1) -> Delivery:
    recommendation_id = str(uuid.uuid4())
    delivery_id = str(uuid.uuid4())
    facts = make_facts(
        recommendation_id=recommendation_id, current_medications=("Clozapine 300mg daily",)
    )
    bundle = build_transaction_bundle(build_resources(facts), delivery_id=delivery_id)
    envelope = DocumentEnvelope(
        message_id=itk_message_id(delivery_id),
        document_id=str(uuid.uuid5(uuid.NAMESPACE_URL, recommendation_id)),
        version=version,
        kind=kind,
        recipient_ods="A81001",
        sender=SENDER,
        sent_at=datetime.now(UTC),
        sender_reference=delivery_id,
        sender_mailbox=LIAISON_MAILBOX,
        inbox_url=f"https://liaison.example/inbox/requests/{recommendation_id}",
        withdrawal_reason="Cancelled by the practitioner" if version > 1 else None,
        original_sent_at=datetime.now(UTC) if version > 1 else None,
    )
    return Delivery(
        delivery_id=delivery_id,
        recommendation_id=recommendation_id,
        ods_code="A81001",
        bundle=bundle,
        document=envelope,
    )


def _gp(mailbox: MeshMailbox, **options: Any) -> MeshGPSystem:
    return MeshGPSystem(
        mailbox=mailbox,
        compose=build_send_document,
        address=mesh_address,
        subject=mesh_subject,
        **({"practice_mailbox": PRACTICE_MAILBOX} | options),
    )


def _header(message: dict[str, Any]) -> dict[str, Any]:
    [header] = [
        e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "MessageHeader"
    ]
    return header


def test_a_delivery_reaches_the_practice_mailbox_as_a_send_document_message(
    liaison: MeshMailbox, practice: MeshClient
) -> None:
    delivery = _delivery()
    receipt = _gp(liaison).submit(delivery)

    assert receipt.created
    assert receipt.in_transit
    assert receipt.remote_reference
    assert practice.list_messages() == [receipt.remote_reference]
    with practice.retrieve_message(receipt.remote_reference) as message:
        assert message.workflow_id == WORKFLOW_ID == "GPCONNECT_SEND_DOCUMENT"
        assert message.local_id == delivery.delivery_id
        assert message.sender == LIAISON_MAILBOX
        body = json.loads(message.read())
        # No patient detail travels in MESH headers.
        assert "Alex" not in (message.subject or "")
        assert "Morgan" not in (message.subject or "")
        assert "9434765919" not in (message.subject or "")
    # An ITK3 message whose header is the one the responses will name.
    assert (body["resourceType"], body["type"]) == ("Bundle", "message")
    assert delivery.document is not None
    assert _header(body)["id"] == delivery.document.message_id


def test_sending_the_same_delivery_again_does_not_send_twice(
    liaison: MeshMailbox, practice: MeshClient
) -> None:
    delivery = _delivery()
    first = _gp(liaison).submit(delivery)
    again = _gp(liaison).submit(delivery)

    assert again.remote_reference == first.remote_reference
    assert not again.created
    assert practice.list_messages() == [first.remote_reference]


def test_without_a_directory_mailbox_mesh_endpoint_lookup_finds_the_practice(
    liaison: MeshMailbox, practice: MeshClient
) -> None:
    # The sandbox's lookup knows organisation X26's mailbox for its canned workflow.
    assert liaison.lookup("X26", SANDBOX_WORKFLOW) == PRACTICE_MAILBOX
    assert liaison.lookup("X26", WORKFLOW_ID) is None
    delivery = replace(_delivery(), ods_code="X26")
    gp = _gp(liaison, practice_mailbox=None, workflow_id=SANDBOX_WORKFLOW)

    receipt = gp.submit(delivery)

    assert practice.list_messages() == [receipt.remote_reference]


def test_with_no_mailbox_found_it_goes_by_automated_routing_without_naming_the_patient_in_errors(
    liaison: MeshMailbox,
) -> None:
    # The sandbox has no registered-practice routing: MESH refuses the GPPROVIDER address,
    # and what Liaison keeps of the refusal does not carry the patient's details.
    gp = _gp(liaison, practice_mailbox=None)
    delivery = _delivery()
    assert mesh_address(delivery.bundle).startswith("GPPROVIDER_9434765919_")
    with pytest.raises(PermanentAdapterError) as refused:
        gp.submit(delivery)
    assert "9434765919" not in str(refused.value)
    assert "MORGAN" not in str(refused.value).upper()
    assert "automated routing" in str(refused.value)


def test_only_registered_workflow_ids_are_sent_under() -> None:
    assert workflow_problem("GPCONNECT_SEND_DOCUMENT") is None
    assert workflow_problem("GPFED_CONSULT_REPORT") is None
    assert workflow_problem("LIAISON_MEDREC") is not None
    assert ACK_WORKFLOW_ID == "GPCONNECT_SEND_DOCUMENT_ACK"


def test_a_delivery_without_its_document_envelope_is_refused(liaison: MeshMailbox) -> None:
    delivery = replace(_delivery(), document=None)
    with pytest.raises(PermanentAdapterError, match="envelope"):
        _gp(liaison).submit(delivery)


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


def test_an_itk_response_is_read_from_liaisons_mailbox_then_acknowledged(
    liaison: MeshMailbox, practice: MeshClient
) -> None:
    practice.send_message(
        LIAISON_MAILBOX,
        b'{"resourceType":"Bundle","type":"message"}',
        workflow_id=ACK_WORKFLOW_ID,
        content_type="application/fhir+json",
    )

    [message_id] = liaison.inbox()
    message = liaison.read(message_id)
    assert message.sender == PRACTICE_MAILBOX
    assert message.message_type == "DATA"
    assert message.workflow_id == ACK_WORKFLOW_ID
    assert json.loads(message.body)["type"] == "message"

    liaison.acknowledge(message_id)
    assert liaison.inbox() == []


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
            "workflow_id": WORKFLOW_ID,
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
    gp = _gp(liaison, practice_mailbox="NOSUCHBOX")
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
    with refusing_port() as port:
        _out_of_reach_is_transient(port)


def _out_of_reach_is_transient(port: int) -> None:
    mailbox = MeshMailbox(
        MeshMailboxConfig(
            url=f"http://127.0.0.1:{port}",
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
