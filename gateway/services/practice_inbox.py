"""Use cases behind the practice inbox: what a practice sees, and what its staff can do.

A request appears once delivered to an `inbox` practice. An action sets the fields a GP
system would set on the request's Task (`task_fields_for`), stores the new Task version,
reads it back with `interpret_task` as any GP system's Task is read, and applies the result
through `apply_status`. The caller commits.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from fhir_profiles.task_status import interpret_task, task_fields_for
from gateway.domain import pharmacy_names
from gateway.domain.errors import ErrorKind, LiaisonError
from gateway.domain.lifecycle import decide
from gateway.domain.medicines import medicine_name, product_keys
from gateway.services import withdrawals
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.models import Recommendation
from gateway.store.ports import UnitOfWorkPort

# Statuses in which a request waits for (or can still be moved on by) the practice.
SHOWN: Final = (
    "delivered",
    "accepted",
    "appointment-needed",
    "prescription-issued",
)


@dataclass(frozen=True)
class Action:
    name: str  # form value
    status: str  # the Liaison status word it reports
    label: str
    needs_reason: bool = False
    takes_pharmacy: bool = False


ACTIONS: Final = (
    Action("accept", "accepted", "Accept the request"),
    Action("reject", "rejected", "Reject the request", needs_reason=True),
    Action("see-patient", "appointment-needed", "Ask to see the patient first"),
    Action("issued", "prescription-issued", "Mark prescription issued", takes_pharmacy=True),
    Action("ready", "ready-to-collect", "Mark ready to collect", takes_pharmacy=True),
)
_BY_NAME: Final = {action.name: action for action in ACTIONS}


@dataclass(frozen=True)
class SafetyFlag:
    severity: str
    text: str


# The GP summary opens with the clinical-safety block, then this line, then the request
# (fhir_profiles.builders_prose.gp_summary). The inbox shows that block in the flag box.
_SAFETY_SEPARATOR: Final = "\n----\n"
_SAFETY_HEADLINE: Final = re.compile(r"CLINICAL SAFETY \([^)]*\): ")


@dataclass(frozen=True)
class InboxItem:
    recommendation_id: str
    status: str
    received_at: datetime
    patient_name: str
    nhs_number: str
    birth_date: date | None
    medicine: str
    dose: str
    duration_days: int | None
    plan: str
    summary: str
    safety_flags: list[SafetyFlag]
    practitioner: str
    practitioner_organisation: str
    pharmacy: str | None
    actions: list[Action]
    # Set when the request was withdrawn from this practice: why, in the practitioner's words.
    withdrawn_reason: str | None = None
    # The summary's safety lines the flags do not already say (which medicines, who was told,
    # sources): shown with the flag, so the page says each safety line once.
    safety_lead: str = ""
    safety_notes: list[str] = field(default_factory=list)

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_reason is not None


class InboxRefusal(LiaisonError):
    """An action the inbox refuses: invalid for a form to correct, a conflict when the
    request itself no longer allows it (withdrawn)."""

    def __init__(
        self, message: str, *, field: str = "action", kind: ErrorKind = ErrorKind.INVALID
    ) -> None:
        super().__init__(message, kind=kind, field=field)


def _nhs_number(value: str) -> str:
    digits = value.replace(" ", "")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else value


def _withdrawal_reason(
    uow: UnitOfWorkPort, recommendation_id: str, practice_ods: str
) -> str | None:
    withdrawal = withdrawals.withdrawn_at(uow, recommendation_id, practice_ods)
    if withdrawal is None:
        return None
    return withdrawal.withdrawal_reason or withdrawals.CANCELLED_REASON


def _doses(product: str, payload: dict[str, Any]) -> str:
    """The dose; for combination NRT each medicine's, named, as the practice must see them."""
    medicines = [payload["medication"], *(payload.get("combination") or ())]
    if len(medicines) == 1:
        return str(medicines[0].get("dose_text", ""))
    return "; ".join(
        f"{medicine_name(key, {})}: {item.get('dose_text', '')}"
        for key, item in zip(product_keys(product, payload), medicines, strict=True)
    )


def _split_safety(summary: str, flags: list[SafetyFlag]) -> tuple[str, list[str], str]:
    """The summary's safety headline, its other safety lines the flags do not repeat, and
    the rest of the summary.

    The flag box already shows each flag's advice; printing the summary whole under it put
    the same advice on the page twice."""
    block, separator, rest = summary.partition(_SAFETY_SEPARATOR)
    if not flags or not separator:
        return "", [], summary
    said = {line.strip() for flag in flags for line in flag.text.splitlines()}
    lead, notes = "", []
    for line in block.splitlines():
        if _SAFETY_HEADLINE.match(line) and not lead:
            lead = _SAFETY_HEADLINE.sub("", line, count=1).strip()
        elif line.strip() and line.strip() not in said:
            notes.append(line.strip())
    return lead, notes, rest


def _item(uow: UnitOfWorkPort, recommendation: Recommendation, practice_ods: str) -> InboxItem:
    payload: dict[str, Any] = recommendation.payload
    user = payload["service_user"]
    medication = payload["medication"]
    practitioner = payload["practitioner"]
    resources = {r.resource_type: r for r in uow.recommendations.resources_for(recommendation.id)}
    summary = ""
    communication = resources.get("CommunicationRequest")
    if communication is not None:
        for part in communication.body.get("payload", []):
            if part.get("contentString"):
                summary = str(part["contentString"])
                break
    flags = [
        SafetyFlag(str(r.body.get("severity", "high")), str(r.body.get("detail", "")))
        for r in uow.recommendations.resources_for(recommendation.id)
        if r.resource_type == "DetectedIssue" and r.body.get("detail")
    ]
    safety_lead, safety_notes, summary = _split_safety(summary, flags)
    birth = user.get("birth_date")
    withdrawn = _withdrawal_reason(uow, recommendation.id, practice_ods)
    return InboxItem(
        recommendation_id=recommendation.id,
        status="cancelled" if withdrawn else recommendation.status,
        received_at=recommendation.created_at,
        patient_name=f"{user['name']['given']} {user['name']['family']}",
        nhs_number=_nhs_number(str(user["nhs_number"])),
        birth_date=date.fromisoformat(birth) if birth else None,
        medicine=medicine_name(recommendation.product, payload),
        dose=_doses(recommendation.product, payload),
        duration_days=medication.get("duration_days"),
        plan=str(payload.get("plan", "")),
        summary=summary,
        safety_flags=flags,
        practitioner=str(practitioner.get("name", "")),
        practitioner_organisation=str(practitioner.get("organisation_ods", "")),
        pharmacy=payload.get("pharmacy"),
        actions=[]
        if withdrawn
        else [a for a in ACTIONS if decide(recommendation.status, a.status).applied],
        withdrawn_reason=withdrawn,
        safety_lead=safety_lead,
        safety_notes=safety_notes,
    )


def pending(uow: UnitOfWorkPort, practice_ods: str) -> list[InboxItem]:
    """The practice's requests still waiting for it, oldest first; safety-flagged first."""
    withdrawn = [_item(uow, r, practice_ods) for r in uow.inbox.withdrawn(practice_ods)]
    gone = {i.recommendation_id for i in withdrawn}
    items = [
        _item(uow, r, practice_ods)
        for r in uow.inbox.requests(practice_ods, SHOWN)
        if r.id not in gone
    ]
    waiting = sorted(items, key=lambda item: (not item.safety_flags, item.received_at))
    # Withdrawn requests stay listed, marked so, after those still waiting: staff who saw one
    # earlier find out why it is no longer for them.
    return waiting + withdrawn


def item(uow: UnitOfWorkPort, practice_ods: str, recommendation_id: str) -> InboxItem | None:
    recommendation = uow.recommendations.get(recommendation_id)
    # Another practice's request is as invisible as one that does not exist.
    if recommendation is None:
        return None
    if withdrawals.withdrawn_at(uow, recommendation.id, practice_ods) is not None:
        return _item(uow, recommendation, practice_ods)
    if recommendation.practice_ods != practice_ods:
        return None
    if recommendation.status not in (*SHOWN, "ready-to-collect", "rejected"):
        return None
    return _item(uow, recommendation, practice_ods)


def act(
    uow: UnitOfWorkPort,
    practice_ods: str,
    recommendation_id: str,
    action_name: str,
    *,
    reason: str | None,
    pharmacy: str | None,
    now: datetime,
) -> str:
    """Carry out a practice's action; returns the new status. Raises InboxRefusal."""
    action = _BY_NAME.get(action_name)
    if action is None:
        raise InboxRefusal(f"unknown action {action_name!r}")
    recommendation = uow.recommendations.get_for_update(recommendation_id)
    if recommendation is not None and withdrawals.withdrawn_at(
        uow, recommendation.id, practice_ods
    ):
        raise InboxRefusal(
            "this request was withdrawn by the practitioner; there is nothing to do with it",
            field="recommendation",
            kind=ErrorKind.CONFLICT,
        )
    if recommendation is None or recommendation.practice_ods != practice_ods:
        raise InboxRefusal("no such request for this practice", field="recommendation")
    reason = (reason or "").strip() or None
    pharmacy = (pharmacy or "").strip() or None
    if action.needs_reason and not reason:
        raise InboxRefusal("give a reason for rejecting the request", field="reason")
    if pharmacy is not None and action.takes_pharmacy:
        why = pharmacy_names.problem(pharmacy)
        if why is not None:
            raise InboxRefusal(f"pharmacy: {why}", field="pharmacy")
    if not decide(recommendation.status, action.status).applied:
        raise InboxRefusal(f"a request that is {recommendation.status} cannot be moved on that way")
    task = next(
        (
            r
            for r in uow.recommendations.resources_for(recommendation.id)
            if r.resource_type == "Task"
        ),
        None,
    )
    if task is None:
        raise InboxRefusal("the request has no Task", field="recommendation")
    # The answer is put as a GP system would put it on its Task, and read back as a poll
    # reads one, so the inbox and a practice's own system land on the same status words.
    # Storing the Task's next version is apply_status's job, as for every other source.
    answer = {
        **task.body,
        **task_fields_for(
            action.status,
            detail=reason if action.needs_reason else None,
            pharmacy=pharmacy if action.takes_pharmacy else None,
        ),
    }
    report = interpret_task(answer)
    if report is None or report.status != action.status:
        raise InboxRefusal("the practice's answer could not be read back")
    applied = apply_status(
        uow,
        StatusChange(
            recommendation.id,
            report.status,
            source="inbox",
            detail=report.detail if action.needs_reason else None,
            pharmacy=report.pharmacy,
        ),
        now=now,
    )
    if not applied:
        raise InboxRefusal("the request had already moved on; reload the page")
    return report.status
