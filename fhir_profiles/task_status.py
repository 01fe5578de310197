"""How a GP system's `Task` says what happened to a request, in Liaison's status words.

One table maps each GP-side status word to the `Task.status` and
`businessStatus` a conforming system sets; `interpret_task` reads it back.
Pharmacy words from the NHS Prescription Status Update API are understood too, through
the ConceptMap Liaison publishes, so a Task moved on by a pharmacy system lands on the same
status words.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fhir_profiles import systems
from fhir_profiles.conformance import definitions


@dataclass(frozen=True)
class TaskShape:
    task_status: str  # FHIR R4 Task.status
    business_status: str  # code in systems.LIAISON_STATUS
    display: str


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
}


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
                mapping[str(element["code"])] = str(targets[0]["code"])
    return mapping


# Source: NHS England Prescription Status Update API, businessStatus words
# (https://fhir.nhs.uk/CodeSystem/task-businessStatus-nppt); API specification:
# github.com/NHSDigital/eps-prescription-status-update-api.
PSU_TO_STATUS: Final[dict[str, str]] = _psu_mapping()

_STATUS_ONLY: Final[dict[str, str]] = {"accepted": "accepted", "rejected": "rejected"}


@dataclass(frozen=True)
class StatusReport:
    """One GP-side fact about one recommendation."""

    recommendation_id: str
    status: str  # a Liaison status word
    detail: str | None
    pharmacy: str | None
    observed_at: datetime | None


def _identifier(resource: dict[str, Any], system: str) -> str | None:
    for identifier in resource.get("identifier", []):
        if identifier.get("system") == system:
            value = identifier.get("value")
            return str(value) if value is not None else None
    return None


def _business_code(task: dict[str, Any]) -> str | None:
    for coding in task.get("businessStatus", {}).get("coding", []):
        if coding.get("system") == systems.LIAISON_STATUS and coding.get("code") in GP_REPORTED:
            return str(coding["code"])
    for coding in task.get("businessStatus", {}).get("coding", []):
        if coding.get("system") == systems.PSU_BUSINESS_STATUS:
            mapped = PSU_TO_STATUS.get(str(coding.get("code")))
            if mapped:
                return mapped
    return None


def _pharmacy(task: dict[str, Any]) -> str | None:
    for output in task.get("output", []):
        codings = output.get("type", {}).get("coding", [])
        if any(c.get("system") == systems.PHARMACY_OUTPUT for c in codings):
            value = output.get("valueString")
            return str(value) if value else None
    return None


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def interpret_task(task: dict[str, Any]) -> StatusReport | None:
    """Read a GP system's Task; None when it says nothing Liaison acts on."""
    recommendation_id = _identifier(task, systems.RECOMMENDATION_ID)
    if recommendation_id is None:
        return None
    status = _business_code(task) or _STATUS_ONLY.get(str(task.get("status")))
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
        observed_at=_parse_instant(task.get("meta", {}).get("lastUpdated")),
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
