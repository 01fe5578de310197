"""Use cases: what practices tell Liaison, from every source (polls, signed callbacks, MESH
replies, MESH tracking and non-delivery reports), applied through the lifecycle.

A practice may only speak for requests addressed to it: a report about another practice's
request is ignored, whatever channel it came through. The caller commits.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from adapters.mesh import InboundMessage, TrackingOutcome, parse_reply
from fhir_profiles.task_status import StatusReport
from gateway.domain import withdrawals
from gateway.domain.prescription_match import AWAITING_PRESCRIPTION, Candidate, match_prescription
from gateway.domain.status_updates import StatusChange, apply_status
from gateway.store.models import Delivery
from gateway.store.unit_of_work import UnitOfWork

_FAILURE_WORDS: Final[dict[str, str]] = {
    "expired": "the practice did not collect it from MESH within 5 days",
    "failed": "MESH could not deliver it to the practice",
}


@dataclass
class ReplyOutcome:
    applied: int = 0
    unchanged: int = 0  # already known, or refused by the lifecycle (recorded as refused)
    ignored: list[str] = field(default_factory=list)  # recommendation ids not for this practice
    # Pharmacy updates naming no request Liaison could be sure of (see prescription_match).
    unmatched: int = 0


def apply_reports(
    uow: UnitOfWork, ods_code: str, reports: list[StatusReport], *, source: str, now: datetime
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


def _pharmacy_match(uow: UnitOfWork, ods_code: str, report: StatusReport) -> str | None:
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


def record_tracking(
    uow: UnitOfWork, delivery: Delivery, fate: TrackingOutcome, *, now: datetime
) -> bool:
    """Apply what MESH tracking says of a delivered message. Returns whether anything changed."""
    delivery.remote_checked_at = now
    if fate == delivery.remote_status:
        return False
    delivery.remote_status = fate
    if fate == "acknowledged" and delivery.purpose == withdrawals.WITHDRAWAL:
        # The recommendation stays cancelled: its timeline says the practice has it.
        withdrawals.record_acknowledged(uow, delivery, now=now)
        return True
    if fate == "acknowledged":
        # The practice has downloaded it: now it is delivered.
        apply_status(
            uow,
            StatusChange(delivery.recommendation_id, "delivered", source="mesh"),
            now=now,
        )
        return True
    if fate in _FAILURE_WORDS:
        _dead_letter(uow, delivery, _FAILURE_WORDS[fate], now=now)
        return True
    return False


def _dead_letter(uow: UnitOfWork, delivery: Delivery, why: str, *, now: datetime) -> None:
    # Dead-lettered like any failed delivery: listed for integration engineers, replayable,
    # and the practitioner is told.
    delivery.state = "dead"
    delivery.last_error = why
    if delivery.purpose == withdrawals.WITHDRAWAL:
        withdrawals.record_dead(uow, delivery, why, now=now)
        return
    apply_status(
        uow,
        StatusChange(delivery.recommendation_id, "delivery-failed", source="mesh", detail=why),
        now=now,
    )


@dataclass(frozen=True)
class MeshMessageOutcome:
    kind: str  # reply | report | unknown-sender | unreadable | unmatched-report
    practice_ods: str | None = None
    applied: int = 0


def apply_mesh_message(
    uow: UnitOfWork, message: InboundMessage, *, now: datetime
) -> MeshMessageOutcome:
    """A message found in Liaison's MESH inbox: a practice's reply (FHIR Task or Bundle of
    Tasks) or MESH's own report that a message could not be delivered."""
    if message.message_type == "REPORT":
        delivery = uow.gp_links.delivery_by_local_id(message.local_id) if message.local_id else None
        if delivery is None and message.linked_message_id:
            delivery = uow.gp_links.delivery_by_remote_reference(message.linked_message_id)
        if delivery is None:
            return MeshMessageOutcome("unmatched-report")
        delivery.remote_status = "failed"
        delivery.remote_checked_at = now
        detail = message.status_description or "no reason given"
        _dead_letter(uow, delivery, f"MESH could not deliver it: {detail}", now=now)
        return MeshMessageOutcome("report", delivery.practice_ods, 1)
    practice = uow.gp_links.practice_by_mesh_mailbox(message.sender or "")
    if practice is None:
        return MeshMessageOutcome("unknown-sender")
    try:
        reports = parse_reply(message.body)
    except ValueError:
        return MeshMessageOutcome("unreadable", practice.ods_code)
    outcome = apply_reports(uow, practice.ods_code, reports, source="mesh", now=now)
    return MeshMessageOutcome("reply", practice.ods_code, outcome.applied)
