"""Use cases: what practices tell Liaison, from every source (polls, signed callbacks, ITK3
responses and MESH non-delivery reports in Liaison's MESH inbox), applied through the
lifecycle.

A practice may only speak for requests addressed to it: a report about another practice's
request is ignored, whatever channel it came through. The caller commits.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from adapters.mesh_gp import ACK_WORKFLOWS
from fhir_profiles.task_status import StatusReport
from gateway.domain.prescription_match import AWAITING_PRESCRIPTION, Candidate, match_prescription
from gateway.services import itk_responses
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.ports import UnitOfWorkPort

if TYPE_CHECKING:
    # Only the worker reading the MESH inbox hands one over; the gateway, which applies
    # signed callbacks here too, need not load the mailbox client (about 5 MB resident).
    from adapters.mesh import InboundMessage


@dataclass
class ReplyOutcome:
    applied: int = 0
    unchanged: int = 0  # already known, or refused by the lifecycle (recorded as refused)
    ignored: list[str] = field(default_factory=list)  # recommendation ids not for this practice
    # Pharmacy updates naming no request Liaison could be sure of (see prescription_match).
    unmatched: int = 0


def apply_reports(
    uow: UnitOfWorkPort, ods_code: str, reports: list[StatusReport], *, source: str, now: datetime
) -> ReplyOutcome:
    outcome = ReplyOutcome()
    for report in reports:
        recommendation_id = report.recommendation_id or _pharmacy_match(uow, ods_code, report)
        if recommendation_id is None:
            outcome.unmatched += 1
            continue
        recommendation = uow.recommendations.get(recommendation_id)
        if recommendation is None or recommendation.practice_ods != ods_code:
            outcome.ignored.append(recommendation_id)
            continue
        change = StatusChange(
            recommendation_id,
            report.status,
            source=source,
            detail=report.detail or _pharmacy_detail(report),
            pharmacy=report.pharmacy,
            prescription_id=report.prescription_id,
        )
        if apply_status(uow, change, now=now):
            outcome.applied += 1
        else:
            outcome.unchanged += 1
    return outcome


def _pharmacy_detail(report: StatusReport) -> str | None:
    """What the timeline says of a pharmacy's update: its prescription and pharmacy codes."""
    if report.recommendation_id is not None or report.prescription_id is None:
        return None
    by = f" by pharmacy {report.pharmacy_ods}" if report.pharmacy_ods else ""
    return f"reported{by} for prescription {report.prescription_id}"


def _pharmacy_match(uow: UnitOfWorkPort, ods_code: str, report: StatusReport) -> str | None:
    """The request a PSU-shaped report (no Liaison id) is about, among this practice's."""
    if report.nhs_number is None or report.prescription_id is None:
        return None
    candidates = [
        Candidate(
            recommendation_id=r.id,
            nhs_number=str(r.payload.get("service_user", {}).get("nhs_number", "")),
            status=r.status,
            created_at=r.created_at,
            prescription_id=r.payload.get("prescription_id"),
        )
        for r in uow.recommendations.at_practice_with_status(ods_code, AWAITING_PRESCRIPTION)
    ]
    return match_prescription(
        candidates,
        nhs_number=report.nhs_number,
        prescription_id=report.prescription_id,
        observed_at=report.observed_at,
    )


@dataclass(frozen=True)
class MeshMessageOutcome:
    # response | report | unexpected-workflow | unreadable | unmatched | wrong-sender |
    # unmatched-report
    kind: str
    practice_ods: str | None = None
    applied: int = 0


def apply_mesh_message(
    uow: UnitOfWorkPort, message: "InboundMessage", *, now: datetime
) -> MeshMessageOutcome:
    """A message found in Liaison's MESH inbox: a practice system's ITK3 response to a Send
    Document message (under an acknowledgement workflow), or MESH's own report that a message
    could not be delivered. Anything else is refused (the caller records and drops it)."""
    if message.message_type == "REPORT":
        # The local id a Send Document message goes with is its delivery's own id.
        local_id = message.local_id or ""
        delivery = uow.deliveries.get(local_id) if local_id else None
        if delivery is None and local_id:
            delivery = uow.gp_links.delivery_by_local_id(local_id)
        if delivery is None and message.linked_message_id:
            delivery = uow.gp_links.delivery_by_remote_reference(message.linked_message_id)
        if delivery is None:
            return MeshMessageOutcome("unmatched-report")
        applied = itk_responses.record_non_delivery(
            uow, delivery, message.status_description, now=now
        )
        return MeshMessageOutcome("report", delivery.practice_ods, int(applied))
    if message.workflow_id not in ACK_WORKFLOWS:
        return MeshMessageOutcome("unexpected-workflow")
    # The STU3 models an ITK response is read with are about 4 MB resident: only the worker
    # reading the MESH inbox loads them, not the gateway applying signed callbacks.
    from fhir_profiles.send_document.responses import read_itk_response

    try:
        response = read_itk_response(message.body)
    except ValueError:
        return MeshMessageOutcome("unreadable")
    delivery = uow.gp_links.delivery_by_message_id(response.answers_message_id)
    chase_up = None
    if delivery is None:
        chase_up = uow.gp_links.chase_up_by_message_id(response.answers_message_id)
    if delivery is None and chase_up is None and response.sender_reference:
        # The SenderReference the response echoes is the delivery's (or chase-up's) id, e.g.
        # when the practice could not read the message id (10009); only what Liaison sent
        # as a Send Document message can be answered.
        candidate = uow.deliveries.get(response.sender_reference)
        delivery = candidate if candidate is not None and candidate.message_id else None
        if delivery is None:
            found = uow.follow_ups.get_chase_up(response.sender_reference)
            chase_up = found if found is not None and found.message_id else None
    practice_ods = (
        delivery.practice_ods if delivery else chase_up.practice_ods if chase_up else None
    )
    if practice_ods is None:
        return MeshMessageOutcome("unmatched")
    practice = uow.practices.get(practice_ods)
    expected = practice.mesh_mailbox if practice is not None else None
    # A practice speaks only for what was sent to it: where its mailbox is known, the
    # response must come from that mailbox (automated routing: MESH chose the mailbox).
    if expected and (message.sender or "").upper() != expected.upper():
        return MeshMessageOutcome("wrong-sender", practice_ods)
    if chase_up is not None:
        applied = itk_responses.apply_chase_up_response(uow, chase_up, response, now=now)
    else:
        assert delivery is not None
        applied = itk_responses.apply_response(uow, delivery, response, now=now)
    return MeshMessageOutcome("response", practice_ods, int(applied))
