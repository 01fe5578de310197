"""What the letter and the ITK message need, read from one of Liaison's R4 delivery Bundles.

The Bundle is the transaction `fhir_profiles.builders.build_transaction_bundle` makes: the
Patient, Practitioner and PractitionerRole, one or more MedicationRequests (a combination of
medicines is one MedicationRequest each), the CommunicationRequest, the Task and, when a
safety rule fired, one or more DetectedIssues. A chase-up's own Bundle holds only its
CommunicationRequest, so a chase-up letter is built from the request's Bundle (the envelope
says it is a chase-up). Anything else is refused with a ValueError that says what is missing.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from fhir_profiles import systems
from fhir_profiles.builders_common import PLAN_AIMS

_NHS_NUMBER: Final = re.compile(r"\d{10}")


@dataclass(frozen=True)
class Medicine:
    """One medicine the practitioner recommends (one MedicationRequest)."""

    name: str
    dose: str
    duration_days: int | None
    quantity: str | None  # e.g. "2 pack", when the plan says how much to supply


@dataclass(frozen=True)
class SafetyFlag:
    """One DetectedIssue: the clinical-safety flag the practice must see first."""

    severity: str  # high | moderate | low (FHIR R4 detectedissue-severity)
    summary: str
    detail: str
    medicines: tuple[str, ...]  # the current medicines it names
    source: str | None  # the public advice it rests on (DetectedIssue.reference)


@dataclass(frozen=True)
class RequestFacts:
    nhs_number: str
    given: str
    family: str
    birth_date: date | None
    practitioner_name: str
    practitioner_email: str | None
    practitioner_sds_user_id: str | None
    medicines: tuple[Medicine, ...]
    plan_aim: str | None  # "to stop smoking", from the cessation plan
    note: str | None  # the practitioner's own note, when they wrote one
    current_medicines: tuple[str, ...]
    safety_flags: tuple[SafetyFlag, ...]
    recommendation_id: str | None
    authored_on: datetime | None
    respond_by: datetime | None
    # (code, display) of the NHS number's verification status, as the R4 Patient carries it.
    nhs_number_status: tuple[str, str] | None = None

    @property
    def patient_name(self) -> str:
        return f"{self.given} {self.family}".strip()


def _resources(bundle: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise ValueError("the delivery must be a FHIR Bundle")
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        raise ValueError("the delivery Bundle has no entries")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise ValueError("every entry of the delivery Bundle must hold a resource")
        by_type.setdefault(resource["resourceType"], []).append(resource)
    return by_type


def _one(by_type: Mapping[str, list[dict[str, Any]]], resource_type: str) -> dict[str, Any]:
    found = by_type.get(resource_type, [])
    if len(found) != 1:
        hint = (
            " (a chase-up's letter is built from the request's own delivery Bundle)"
            if resource_type == "Patient" and "CommunicationRequest" in by_type
            else ""
        )
        raise ValueError(f"the delivery Bundle must hold one {resource_type}{hint}")
    return found[0]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"the delivery Bundle has no {what}")
    return value.strip()


def _identifier(resource: Mapping[str, Any], system: str) -> str | None:
    for identifier in resource.get("identifier", []):
        if isinstance(identifier, Mapping) and identifier.get("system") == system:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _nhs_number_status(patient: Mapping[str, Any]) -> tuple[str, str] | None:
    for identifier in patient.get("identifier", []):
        if not isinstance(identifier, Mapping) or identifier.get("system") != systems.NHS_NUMBER:
            continue
        for ext in identifier.get("extension", []):
            if not isinstance(ext, Mapping):
                continue
            if ext.get("url") != systems.UKCORE_EXT_NHS_NUMBER_VERIFICATION:
                continue
            for coding in ext.get("valueCodeableConcept", {}).get("coding", []):
                if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
                    return str(coding["code"]), str(coding.get("display", ""))
    return None


def _patient(patient: Mapping[str, Any]) -> tuple[str, str, str, date | None]:
    nhs_number = _identifier(patient, systems.NHS_NUMBER)
    if nhs_number is None or not _NHS_NUMBER.fullmatch(nhs_number):
        raise ValueError("the Patient has no 10-digit NHS number")
    names = [n for n in patient.get("name", []) if isinstance(n, Mapping)]
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    family = _text(official.get("family"), "patient family name")
    given = " ".join(g for g in official.get("given", []) if isinstance(g, str)).strip()
    birth: date | None = None
    if "birthDate" in patient:
        try:
            birth = date.fromisoformat(str(patient["birthDate"]))
        except ValueError as error:
            raise ValueError("the Patient's birthDate is not a date") from error
    return nhs_number, given, family, birth


def _medicine(request: Mapping[str, Any]) -> Medicine:
    concept = request.get("medicationCodeableConcept", {})
    name = _text(concept.get("text") if isinstance(concept, Mapping) else None, "medicine name")
    dosage = request.get("dosageInstruction", [])
    dose = _text(dosage[0].get("text") if dosage else None, "dose for " + name)
    dispense = request.get("dispenseRequest", {})
    duration = dispense.get("expectedSupplyDuration", {}).get("value")
    quantity = dispense.get("quantity")
    amount = (
        f"{quantity.get('value')} {quantity.get('unit', '')}".strip()
        if isinstance(quantity, Mapping) and "value" in quantity
        else None
    )
    return Medicine(name, dose, duration if isinstance(duration, int) else None, amount)


def _extension_values(resource: Mapping[str, Any], url: str) -> list[Any]:
    return [
        ext.get("valueCode", ext.get("valueCodeableConcept"))
        for ext in resource.get("extension", [])
        if isinstance(ext, Mapping) and ext.get("url") == url
    ]


def _safety_flag(issue: Mapping[str, Any]) -> SafetyFlag:
    implicated = [
        str(ref["display"])
        for ref in issue.get("implicated", [])
        if isinstance(ref, Mapping) and ref.get("type") == "Medication" and "display" in ref
    ]
    code = issue.get("code", {})
    return SafetyFlag(
        severity=str(issue.get("severity", "high")),
        summary=_text(code.get("text") if isinstance(code, Mapping) else None, "flag summary"),
        detail=str(issue.get("detail", "")).strip(),
        medicines=tuple(implicated),
        source=issue.get("reference") if isinstance(issue.get("reference"), str) else None,
    )


_SEVERITY_ORDER: Final = {"high": 0, "moderate": 1, "low": 2}


def read_request(bundle: Mapping[str, Any]) -> RequestFacts:
    """The facts of one delivery Bundle. Raises ValueError naming what is missing."""
    by_type = _resources(bundle)
    patient = _one(by_type, "Patient")
    nhs_number, given, family, birth = _patient(patient)
    practitioner = _one(by_type, "Practitioner")
    requests = by_type.get("MedicationRequest", [])
    if not requests:
        raise ValueError("the delivery Bundle has no MedicationRequest")
    first = requests[0]
    names = [n for n in practitioner.get("name", []) if isinstance(n, Mapping)]
    email = next(
        (
            str(t["value"])
            for t in practitioner.get("telecom", [])
            if isinstance(t, Mapping) and t.get("system") == "email" and "value" in t
        ),
        None,
    )
    plans = _extension_values(first, systems.EXT_CESSATION_PLAN)
    current = [
        str(v["text"])
        for v in _extension_values(first, systems.EXT_CURRENT_MEDICATION)
        if isinstance(v, Mapping) and "text" in v
    ]
    notes = [
        str(n["text"])
        for n in first.get("note", [])
        if isinstance(n, Mapping) and not str(n.get("text", "")).startswith("Plan: ")
    ]
    flags = sorted(
        (_safety_flag(issue) for issue in by_type.get("DetectedIssue", [])),
        key=lambda flag: _SEVERITY_ORDER.get(flag.severity, 3),
    )
    task = (by_type.get("Task") or [{}])[0]
    restriction = task.get("restriction", {}).get("period", {})
    return RequestFacts(
        nhs_number=nhs_number,
        given=given,
        family=family,
        birth_date=birth,
        practitioner_name=_text(
            (names[0].get("text") if names else None) or _display(first.get("requester")),
            "practitioner name",
        ),
        practitioner_email=email,
        practitioner_sds_user_id=_identifier(practitioner, systems.SDS_USER_ID),
        medicines=tuple(_medicine(r) for r in requests),
        plan_aim=PLAN_AIMS.get(plans[0]) if plans and isinstance(plans[0], str) else None,
        note=notes[0] if notes else None,
        current_medicines=tuple(current),
        safety_flags=tuple(flags),
        recommendation_id=_identifier(first, systems.RECOMMENDATION_ID),
        authored_on=_instant(first.get("authoredOn")),
        respond_by=_instant(restriction.get("end")),
        nhs_number_status=_nhs_number_status(patient),
    )


def _display(reference: Any) -> str | None:
    if isinstance(reference, Mapping) and isinstance(reference.get("display"), str):
        return str(reference["display"])
    return None
