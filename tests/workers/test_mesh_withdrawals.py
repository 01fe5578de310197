"""Withdrawals over MESH through the real delivery worker, with a real database: a
withdrawal is a withdrawal letter, the next version of the request's GP Connect Send
Document, sent once; the practice system's ITK3 responses record it filed and leave the
recommendation cancelled."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from adapters.gp_system import Delivery as Outgoing
from adapters.gp_system import DeliveryPurpose, SubmitReceipt, UpdateBatch
from adapters.mesh_gp import MeshGPSystem
from fhir_profiles.send_document.contract import (
    DocumentEnvelope,
    DocumentKind,
    ItkResponse,
    ResponseKind,
)
from gateway.services.itk_responses import apply_response, record_tracking
from gateway.store.unit_of_work import UnitOfWork
from tests.workers.test_withdrawals import (
    REASON,
    _cancel,
    _delivered,
    _deliveries,
    _state,
    _timeline,
    peers,
    rt,
)
from workers import delivery, send_document
from workers.runtime import PracticeEndpoint, Runtime

__all__ = ["peers", "rt"]


class _RecordingMailbox:
    """Liaison's MESH mailbox, recording instead of sending."""

    def __init__(self, request_local_id: str) -> None:
        self.request_local_id = request_local_id
        self.sent: list[dict[str, Any]] = []

    def find_sent(self, local_id: str) -> str | None:
        # The request itself went under its own id: a withdrawal must not be taken for it.
        return "request-message-id" if local_id == self.request_local_id else None

    def send(self, **message: Any) -> str:
        self.sent.append(message)
        return "message-id"


class _Recorder:
    def __init__(self, inner: MeshGPSystem) -> None:
        self.inner = inner
        self.handed: list[Outgoing] = []

    def submit(self, outgoing: Outgoing) -> SubmitReceipt:
        self.handed.append(outgoing)
        return self.inner.submit(outgoing)

    def fetch_updates(self, *, ods_code: str, since: str | None) -> UpdateBatch:
        return UpdateBatch(reports=[], cursor=since, calls=0)

    def health(self) -> bool:
        return True


def _on_mesh(rt: Runtime, ods: str) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        practice = uow.practices.get(ods)
        assert practice is not None
        practice.adapter, practice.mesh_mailbox = "mesh", "X26ABC2"
        uow.commit()


def test_a_withdrawal_over_mesh_is_a_new_version_of_the_document_sent_as_a_letter(
    rt: Runtime,
) -> None:
    rec_id = _delivered(rt)
    _on_mesh(rt, "Y00001")
    assert _cancel(rt, rec_id)
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    (request,) = _deliveries(rt, rec_id, "request")
    mailbox = _RecordingMailbox(request.id)
    composed: list[tuple[dict[str, Any], DocumentEnvelope]] = []

    def compose(bundle: dict[str, Any], envelope: DocumentEnvelope) -> bytes:
        composed.append((bundle, envelope))
        return b'{"resourceType":"Bundle","type":"message"}'

    mesh = _Recorder(
        MeshGPSystem(
            mailbox=mailbox,  # type: ignore[arg-type]
            compose=compose,
            address=lambda bundle: "unused",
            practice_mailbox="X26ABC2",
        )
    )

    def gp_system_for(endpoint: PracticeEndpoint) -> Any:
        return mesh

    mesh_rt = replace(rt, gp_system_for=gp_system_for)
    assert delivery.deliver(mesh_rt, withdrawal.id) == "delivered"

    (handed,) = mesh.handed
    assert handed.purpose is DeliveryPurpose.WITHDRAWAL
    assert handed.delivery_id == (request.external_id or request.id)
    envelope = handed.document
    assert envelope is not None
    assert envelope.kind is DocumentKind.WITHDRAWAL
    # The same document as the request's letter, one version on.
    assert envelope.document_id == send_document.document_id(rec_id)
    assert envelope.version == 2
    assert envelope.withdrawal_reason == REASON
    assert envelope.sender_reference == withdrawal.id
    (sent,) = mailbox.sent
    assert sent["workflow_id"] == "GPCONNECT_SEND_DOCUMENT"
    assert sent["recipient"] == "X26ABC2"
    assert sent["local_id"] == withdrawal.id
    [(bundle, _)] = composed
    assert bundle == handed.bundle  # the request as it was sent, for the letter to name
    row = _state(rt, withdrawal.id)
    assert (row.state, row.remote_status) == ("delivered", "accepted")
    assert row.message_id == envelope.message_id
    # Sent again (a worker died after MESH took it): found by its local id, not resent.
    mailbox.request_local_id = withdrawal.id
    assert mesh.inner.submit(handed).created is False
    assert len(mailbox.sent) == 1


def test_the_practice_filing_a_withdrawal_over_mesh_records_it_and_leaves_it_cancelled(
    rt: Runtime,
) -> None:
    rec_id = _delivered(rt)
    assert _cancel(rt, rec_id)
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    now = datetime.now(UTC)

    def response(kind: ResponseKind, code: str) -> ItkResponse:
        return ItkResponse(kind, True, code, "Success", "message-id", f"response-{code}")

    with UnitOfWork(rt.session_factory) as uow:
        row = uow.deliveries.get(withdrawal.id)
        assert row is not None
        row.state, row.remote_status = "delivered", "accepted"  # as MESH took it
        assert record_tracking(uow, row, "acknowledged", now=now)
        assert apply_response(uow, row, response(ResponseKind.INFRASTRUCTURE, "20013"), now=now)
        assert apply_response(uow, row, response(ResponseKind.BUSINESS, "30001"), now=now)
        # A repeated response changes nothing.
        assert not apply_response(uow, row, response(ResponseKind.BUSINESS, "30001"), now=now)
        uow.commit()
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        assert rec.status == "cancelled"
        refused = [e for e in uow.recommendations.timeline(rec_id) if not e.applied]
    assert refused == []
    timeline = _timeline(rt, rec_id)
    assert "withdrawal collected from MESH by the practice system" in timeline
    assert "withdrawal received by the practice system" in timeline
    assert "withdrawal acknowledged by the practice Y00001" in timeline
    assert "withdrawal filed in the practice's workflow" in timeline
