"""The resources of one recommendation: MedicationRequest, CommunicationRequest, Task and,
when a safety rule fires, DetectedIssue (each a JSON-ready dict checked by its R4B model)."""

from typing import Any

from fhir.resources.R4B.communicationrequest import CommunicationRequest
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.task import Task

from fhir_profiles import systems
from fhir_profiles.builders_common import (
    CONTAINED_PATIENT,
    CONTAINED_PRACTITIONER,
    MEDICATIONREQUEST_CATEGORY,
    PLAN_LABELS,
    UCUM,
    detected_issue_id,
    instant,
    nhs_identifier,
    organisation,
    practitioner_identifier,
    reason_code,
    recommendation_identifier,
    reference,
    requester,
    serialise,
    subject,
)
from fhir_profiles.builders_prose import gp_summary, safety_advice
from fhir_profiles.catalogue import Product
from fhir_profiles.imported_codes import ImportedCodes
from fhir_profiles.recommendation import CareTeamContact, RecommendationFacts
from fhir_profiles.safety import Finding, highest_severity, mechanism


def _medication_concept(product: Product) -> dict[str, Any]:
    coding: list[dict[str, Any]] = [
        {"system": systems.MEDICATION_CATALOGUE, "code": product.key, "display": product.name}
    ]
    if product.dmd_code is not None:
        # Coding.version names the dm+d release the code came from (its source).
        coding.insert(
            0,
            {
                "system": systems.DMD,
                "version": product.code_source,
                "code": product.dmd_code,
                "display": product.name,
            },
        )
    return {"coding": coding, "text": product.name}


def _contained(facts: RecommendationFacts) -> list[dict[str, Any]]:
    user = facts.service_user
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": CONTAINED_PATIENT,
        "identifier": [nhs_identifier(facts)],
        "name": [{"family": user.family, "given": [user.given]}],
        # UK Core Patient carries the registered practice here.
        "generalPractitioner": [organisation(facts.gp_ods_code)],
    }
    if user.birth_date is not None:
        patient["birthDate"] = user.birth_date.isoformat()
    practitioner = {
        "resourceType": "Practitioner",
        "id": CONTAINED_PRACTITIONER,
        "identifier": [practitioner_identifier(facts)],
        "name": [{"text": facts.practitioner.name}],
        "telecom": [{"system": "email", "value": facts.practitioner.email, "use": "work"}],
    }
    return [patient, practitioner]


def _care_team_extension(contact: CareTeamContact) -> dict[str, Any]:
    return {
        "url": systems.EXT_CARE_TEAM_CONTACT,
        "extension": [
            {"url": "role", "valueCode": contact.role},
            {
                "url": "contact",
                "valueContactDetail": {
                    "name": contact.name,
                    "telecom": [{"system": "email", "value": contact.email, "use": "work"}],
                },
            },
        ],
    }


def _extensions(facts: RecommendationFacts) -> list[dict[str, Any]]:
    assert facts.consent is not None  # check_facts
    extensions: list[dict[str, Any]] = [
        {
            "url": systems.EXT_CONSENT,
            "extension": [
                {"url": "shareWithGP", "valueBoolean": True},
                {"url": "notifyServiceUser", "valueBoolean": facts.consent.notify_service_user},
                {"url": "recordedAt", "valueDateTime": instant(facts.consent.recorded_at)},
            ],
        },
        {"url": systems.EXT_CESSATION_PLAN, "valueCode": facts.plan},
    ]
    if facts.care_team is not None:
        extensions.append(_care_team_extension(facts.care_team))
    for medicine in facts.medicines:
        concept: dict[str, Any] = {"text": medicine.name}
        if medicine.system and medicine.code:
            concept["coding"] = [{"system": medicine.system, "code": medicine.code}]
        extensions.append({"url": systems.EXT_CURRENT_MEDICATION, "valueCodeableConcept": concept})
    return extensions


def medication_request(
    facts: RecommendationFacts, product: Product, flagged: bool
) -> dict[str, Any]:
    notes = [{"text": facts.note}] if facts.note else []
    notes.append({"text": f"Plan: {PLAN_LABELS[facts.plan]}"})
    dispense: dict[str, Any] | None = None
    if facts.medication.duration_days is not None:
        dispense = {
            "expectedSupplyDuration": {
                "value": facts.medication.duration_days,
                "unit": "days",
                "system": UCUM,
                "code": "d",
            }
        }
    identifiers = recommendation_identifier(facts) + [
        {"system": system, "value": value} for system, value in facts.source_identifiers
    ]
    data: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": facts.medication_request_id,
        "meta": {"profile": [systems.PROFILE_MEDICATION_REQUEST]},
        "contained": _contained(facts),
        "extension": _extensions(facts),
        "identifier": identifiers,
        "status": "active",
        # A practitioner outside the practice can only propose; the GP decides to order.
        "intent": "proposal",
        "category": [
            {
                "coding": [
                    {
                        "system": MEDICATIONREQUEST_CATEGORY,
                        "code": "community",
                        "display": "Community",
                    }
                ],
                "text": "Smoking cessation",
            }
        ],
        "medicationCodeableConcept": _medication_concept(product),
        "subject": {"reference": f"#{CONTAINED_PATIENT}", **subject(facts)},
        "authoredOn": instant(facts.authored_on),
        "requester": {"reference": f"#{CONTAINED_PRACTITIONER}", **requester(facts)},
        # 710081004 is a therapy (regime) concept: it says why, not what kind of order.
        "reasonCode": reason_code(),
        "note": notes,
        "dosageInstruction": [{"text": facts.medication.dose_text}],
        "dispenseRequest": dispense,
        # UK Core MedicationRequest makes substitution 1..1; generic prescribing is fine.
        "substitution": {"allowedBoolean": True},
        "detectedIssue": (
            [reference("DetectedIssue", detected_issue_id(facts))] if flagged else None
        ),
    }
    return serialise(MedicationRequest, data)


def communication_request(
    facts: RecommendationFacts, imported: ImportedCodes, flagged: bool
) -> dict[str, Any]:
    medication_request = reference("MedicationRequest", facts.medication_request_id)
    about = [medication_request]
    if flagged:
        about.append(reference("DetectedIssue", detected_issue_id(facts)))
    data: dict[str, Any] = {
        "resourceType": "CommunicationRequest",
        "id": facts.communication_request_id,
        "meta": {"profile": [systems.PROFILE_COMMUNICATION_REQUEST]},
        "identifier": recommendation_identifier(facts),
        "status": "active",
        "subject": subject(facts),
        "about": about,
        "payload": [
            {"contentString": gp_summary(facts, imported=imported)},
            {"contentReference": dict(medication_request)},
        ],
        "authoredOn": instant(facts.authored_on),
        "requester": requester(facts),
        "recipient": [organisation(facts.gp_ods_code)],
        "sender": organisation(facts.practitioner.organisation_ods),
        "reasonCode": reason_code(),
    }
    return serialise(CommunicationRequest, data)


def task(facts: RecommendationFacts) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resourceType": "Task",
        "id": facts.task_id,
        "meta": {"profile": [systems.PROFILE_TASK]},
        "identifier": recommendation_identifier(facts),
        "status": "requested",
        "intent": "order",
        "code": {
            "coding": [
                {
                    "system": systems.TASK_CODE,
                    "code": "fulfill",
                    "display": "Fulfill the focal request",
                }
            ]
        },
        "focus": reference("MedicationRequest", facts.medication_request_id),
        "for": subject(facts),
        "authoredOn": instant(facts.authored_on),
        "requester": requester(facts),
        "owner": organisation(facts.gp_ods_code),
        # Must-support in UK Core Task; the same reason as the MedicationRequest.
        "reasonCode": reason_code()[0],
    }
    return serialise(Task, data)


def detected_issue(facts: RecommendationFacts, findings: tuple[Finding, ...]) -> dict[str, Any]:
    worst = findings[0].rule
    data: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": detected_issue_id(facts),
        "meta": {"profile": [systems.PROFILE_DETECTED_ISSUE]},
        "identifier": recommendation_identifier(facts),
        "status": "final",
        "code": {
            "coding": [
                {"system": systems.V3_ACT_CODE, "code": "DRG", "display": "Drug Interaction Alert"}
            ],
            "text": "Stopping smoking can raise the levels of current medicines (CYP1A2)",
        },
        "severity": highest_severity(findings),
        "patient": subject(facts),
        "identifiedDateTime": instant(facts.authored_on),
        "implicated": [
            reference("MedicationRequest", facts.medication_request_id),
            *({"display": name} for name in dict.fromkeys(f.medicine.name for f in findings)),
        ],
        "detail": f"{mechanism()}\n{safety_advice(findings)}",
        "reference": worst.reference_url,
    }
    return serialise(DetectedIssue, data)
