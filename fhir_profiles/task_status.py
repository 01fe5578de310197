"""How a GP system's `Task` says what happened to a request, in Liaison's status words.

One table maps each GP-side status word to the `Task.status` and
`businessStatus` a conforming system sets; `interpret_task` reads it back.
Pharmacy words from the NHS Prescription Status Update API are understood too, through
the ConceptMap Liaison publishes, so a Task moved on by a pharmacy system lands on the same
status words. Every word is compared with case and surrounding space folded: PSU itself
folds case, and NHS England's own example sends "Ready to collect" where its code system
says "Ready to Collect".

A PSU-shaped Task carries no Liaison identifier: it names the prescription (`basedOn`, the
prescription order number), the line item (`focus`), the patient (`for`, NHS number) and
the pharmacy (`owner`, ODS code). `interpret_task` reads those into the report and leaves
`recommendation_id` empty; the gateway matches the report to a recommendation.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fhir_profiles import systems
from fhir_profiles.conformance import definitions
from fhir_profiles.instants import read_datetime


@dataclass(frozen=True)
class TaskShape:
    task_status: str  # FHIR R4 Task.status
    business_status: str  # code in systems.LIAISON_STATUS
    display: str


def fold(word: object) -> str:
    """A status word as compared: case folded, inner runs of space made one, ends trimmed."""
    return " ".join(str(word).split()).casefold()


# Status words the GP side (or pharmacy) can report, in lifecycle order.
GP_REPORTED: Final[dict[str, TaskShape]] = {
    "accepted": TaskShape("accepted", "accepted", "Accepted by the practice"),
    "rejected": TaskShape("rejected", "rejected", "Rejected by the practice"),
    "appointment-needed": TaskShape(
        "on-hold", "appointment-needed", "Practice asks to see the patient"
    ),
    "prescription-issued": TaskShape("in-progress", "prescription-issued", "Prescription issued"),
    "ready-to-collect": TaskShape("in-progress", "ready-to-collect", "Ready to collect"),
    "collected": TaskShape("completed", "collected", "Collected"),
    "not-dispensed": TaskShape("completed", "not-dispensed", "Not dispensed"),
}
_GP_REPORTED_FOLDED: Final[dict[str, str]] = {fold(word): word for word in GP_REPORTED}


def _psu_mapping() -> dict[str, str]:
    """PSU word -> Liaison status word, read from the ConceptMap Liaison publishes
    (definitions/ConceptMap-psu-business-status-to-liaison-status.json)."""
    concept_map = definitions().read("ConceptMap", "psu-business-status-to-liaison-status")
    if concept_map is None:
        raise ValueError("the PSU ConceptMap is missing from fhir_profiles/definitions")
    mapping: dict[str, str] = {}
    for group in concept_map["group"]:
        if group["source"] != systems.PSU_BUSINESS_STATUS:
            continue
        for element in group["element"]:
            targets = [t for t in element.get("target", ()) if t.get("code")]
            if targets:
                mapping[fold(element["code"])] = str(targets[0]["code"])
    return mapping


# Source: NHS England Prescription Status Update API, businessStatus words
# (https://fhir.nhs.uk/CodeSystem/task-businessStatus-nppt); API specification:
# github.com/NHSDigital/eps-prescription-status-update-api.
# Keys are folded (see `fold`).
PSU_TO_STATUS: Final[dict[str, str]] = _psu_mapping()

_STATUS_ONLY: Final[dict[str, str]] = {"accepted": "accepted", "rejected": "rejected"}


@dataclass(frozen=True)
class StatusReport:
    """One GP-side or pharmacy fact about one recommendation. A pharmacy's (PSU-shaped) Task
    names no recommendation: then `recommendation_id` is None and the prescription, the
    patient and the pharmacy say which it is."""

    recommendation_id: str | None
    status: str  # a Liaison status word
    detail: str | None
    pharmacy: str | None
    observed_at: datetime | None
    prescription_id: str | None = None  # PSU `basedOn`: the prescription order number
    nhs_number: str | None = None  # PSU `for`
    pharmacy_ods: str | None = None  # PSU `owner`


def _identifier(resource: dict[str, Any], system: str) -> str | None:
    for identifier in resource.get("identifier", []):
        if identifier.get("system") == system:
            value = identifier.get("value")
            return str(value) if value is not None else None
    return None


def _codings(task: dict[str, Any]) -> list[dict[str, Any]]:
    business = task.get("businessStatus")
    codings = business.get("coding") if isinstance(business, dict) else None
    return [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []


def _business_code(task: dict[str, Any]) -> str | None:
    for coding in _codings(task):
        if coding.get("system") == systems.LIAISON_STATUS:
            word = _GP_REPORTED_FOLDED.get(fold(coding.get("code", "")))
            if word:
                return word
    for coding in _codings(task):
        if coding.get("system") == systems.PSU_BUSINESS_STATUS:
            mapped = PSU_TO_STATUS.get(fold(coding.get("code", "")))
            if mapped:
                return mapped
    return None


def _reference_identifier(reference: Any, system: str) -> str | None:
    """The value of a logical reference's identifier in `system` (`{"identifier": {…}}`)."""
    identifier = reference.get("identifier") if isinstance(reference, dict) else None
    if isinstance(identifier, dict) and identifier.get("system") == system:
        value = identifier.get("value")
        return str(value).strip() or None if value is not None else None
    return None


def _prescription_id(task: dict[str, Any]) -> str | None:
    based_on = task.get("basedOn")
    for reference in based_on if isinstance(based_on, list) else []:
        found = _reference_identifier(reference, systems.PRESCRIPTION_ORDER_NUMBER)
        if found:
            return found
    return None


def _pharmacy(task: dict[str, Any]) -> str | None:
    for output in task.get("output", []):
        codings = output.get("type", {}).get("coding", [])
        if any(c.get("system") == systems.PHARMACY_OUTPUT for c in codings):
            value = output.get("valueString")
            return str(value) if value else None
    return None


def _pharmacy_report(task: dict[str, Any], status: str | None) -> StatusReport | None:
    """A PSU-shaped Task: the prescription, the patient and the pharmacy, no Liaison id."""
    prescription_id = _prescription_id(task)
    nhs_number = _reference_identifier(task.get("for"), systems.NHS_NUMBER)
    if status is None or prescription_id is None or nhs_number is None:
        return None
    return StatusReport(
        recommendation_id=None,
        status=status,
        detail=None,
        pharmacy=None,
        observed_at=read_datetime(task.get("lastModified")),
        prescription_id=prescription_id,
        nhs_number=nhs_number,
        pharmacy_ods=_reference_identifier(task.get("owner"), systems.ODS_ORGANIZATION_CODE),
    )


def interpret_task(task: dict[str, Any]) -> StatusReport | None:
    """Read a GP system's or a pharmacy's Task; None when it says nothing Liaison acts on."""
    recommendation_id = _identifier(task, systems.RECOMMENDATION_ID)
    if recommendation_id is None:
        return _pharmacy_report(task, _business_code(task))
    status = _business_code(task) or _STATUS_ONLY.get(fold(task.get("status", "")))
    if status is None:
        return None
    detail = task.get("statusReason", {}).get("text") if status == "rejected" else None
    if detail is None:
        detail = task.get("businessStatus", {}).get("text")
    return StatusReport(
        recommendation_id=recommendation_id,
        status=status,
        detail=detail,
        pharmacy=_pharmacy(task),
        observed_at=read_datetime(task.get("meta", {}).get("lastUpdated")),
        prescription_id=_prescription_id(task),
    )


def task_fields_for(
    status: str, *, detail: str | None = None, pharmacy: str | None = None
) -> dict[str, Any]:
    """The Task fields a GP system sets to report `status` (used by the simulator and inbox)."""
    shape = GP_REPORTED[status]
    fields: dict[str, Any] = {
        "status": shape.task_status,
        "businessStatus": {
            "coding": [
                {
                    "system": systems.LIAISON_STATUS,
                    "code": shape.business_status,
                    "display": shape.display,
                }
            ],
            "text": detail or shape.display,
        },
    }
    if status == "rejected":
        fields["statusReason"] = {"text": detail or "Rejected by the practice"}
    if pharmacy:
        fields["output"] = [
            {
                "type": {"coding": [{"system": systems.PHARMACY_OUTPUT, "code": "pharmacy"}]},
                "valueString": pharmacy,
            }
        ]
    return fields
