"""The resources of one recommendation: MedicationRequest, CommunicationRequest, Task and,
when a safety rule fires, DetectedIssue (each a JSON-ready dict; the builder
tests check every one against its R4B model)."""

from typing import Any

from fhir_profiles import systems
from fhir_profiles.builders_common import (
    COURSE_OF_THERAPY,
    MEDICATIONREQUEST_CATEGORY,
    PLAN_LABELS,
    UCUM,
    detected_issue_id,
    full_name,
    group_identifier,
    instant,
    medication_request_ids,
    narrative,
    organisation,
    reason_code,
    recommendation_identifier,
    reference,
    requester,
    serialise,
    subject,
)
from fhir_profiles.builders_prose import gp_summary, safety_advice
from fhir_profiles.catalogue import Product
from fhir_profiles.combinations import combined_name
from fhir_profiles.imported_codes import ImportedCodes
from fhir_profiles.recommendation import CareTeamContact, MedicationChoice, RecommendationFacts
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
    extensions.extend(_care_team_extension(member) for member in facts.care_team_members)
    for medicine in facts.medicines:
        concept: dict[str, Any] = {"text": medicine.name}
        if medicine.system and medicine.code:
            concept["coding"] = [{"system": medicine.system, "code": medicine.code}]
        extensions.append({"url": systems.EXT_CURRENT_MEDICATION, "valueCodeableConcept": concept})
    return extensions


def _dispense_request(choice: MedicationChoice) -> dict[str, Any] | None:
    dispense: dict[str, Any] = {}
    if choice.quantity is not None:
        # A count of the product's packs or units, as the plan names them (SimpleQuantity).
        dispense["quantity"] = {"value": choice.quantity, "unit": choice.quantity_unit or "pack"}
    if choice.duration_days is not None:
        dispense["expectedSupplyDuration"] = {
            "value": choice.duration_days,
            "unit": "days",
            "system": UCUM,
            "code": "d",
        }
    return dispense or None


def _course_of_therapy(choice: MedicationChoice) -> dict[str, Any] | None:
    if choice.duration_days is None:
        return None
    # A stop-smoking course has an end: "acute" (short course) in the base R4 code system
    # that UKCore-MedicationRequestCourseOfTherapy includes.
    return {
        "coding": [
            {
                "system": COURSE_OF_THERAPY,
                "code": "acute",
                "display": "Short course (acute) therapy",
            }
        ]
    }


def _proposal_text(facts: RecommendationFacts, products: tuple[Product, ...], index: int) -> str:
    product, choice = products[index], facts.medications[index]
    others = [p for n, p in enumerate(products) if n != index]
    combined = f", with {combined_name(others)} (combination NRT)" if others else ""
    return f"Proposal: {product.name} for {full_name(facts)}{combined}. Dose: {choice.dose_text}"


def _item_identifier(facts: RecommendationFacts, index: int) -> list[dict[str, Any]]:
    """A combination's requests share the recommendation's identifier; each also carries its
    own, so that a delivery's conditional create can tell them apart (builders_bundle)."""
    if len(facts.medications) < 2:
        return []
    value = medication_request_ids(facts)[index]
    return [{"system": systems.MEDICATION_REQUEST_ID, "value": value}]


def medication_request(
    facts: RecommendationFacts, products: tuple[Product, ...], index: int, flagged: bool
) -> dict[str, Any]:
    """The MedicationRequest for the `index`-th medicine (0: `facts.medication`)."""
    choice = facts.medications[index]
    notes = [{"text": facts.note}] if facts.note else []
    notes.append({"text": f"Plan: {PLAN_LABELS[facts.plan]}"})
    identifiers = (
        recommendation_identifier(facts)
        + _item_identifier(facts, index)
        + [{"system": system, "value": value} for system, value in facts.source_identifiers]
    )
    data: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": medication_request_ids(facts)[index],
        "meta": {
            "profile": [systems.PROFILE_MEDICATION_REQUEST, systems.UKCORE_MEDICATION_REQUEST]
        },
        "text": narrative(_proposal_text(facts, products, index)),
        "extension": _extensions(facts),
        "identifier": identifiers,
        # Combination NRT: every medicine's request in one group (the recommendation).
        "groupIdentifier": group_identifier(facts),
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
        "medicationCodeableConcept": _medication_concept(products[index]),
        "subject": subject(facts),
        "authoredOn": instant(facts.authored_on),
        "requester": requester(facts),
        # 710081004 is a therapy (regime) concept: it says why, not what kind of order.
        "reasonCode": reason_code(),
        "note": notes,
        "dosageInstruction": [{"text": choice.dose_text}],
        "courseOfTherapyType": _course_of_therapy(choice),
        "dispenseRequest": _dispense_request(choice),
        # UK Core MedicationRequest makes substitution 1..1; generic prescribing is fine.
        "substitution": {"allowedBoolean": True},
        "detectedIssue": (
            [reference("DetectedIssue", detected_issue_id(facts))] if flagged else None
        ),
    }
    return serialise("MedicationRequest", data)


def communication_request(
    facts: RecommendationFacts, imported: ImportedCodes, flagged: bool
) -> dict[str, Any]:
    requests = [reference("MedicationRequest", id_) for id_ in medication_request_ids(facts)]
    about = list(requests)
    if flagged:
        about.append(reference("DetectedIssue", detected_issue_id(facts)))
    data: dict[str, Any] = {
        "resourceType": "CommunicationRequest",
        "id": facts.communication_request_id,
        "meta": {"profile": [systems.PROFILE_COMMUNICATION_REQUEST]},
        "text": narrative(
            f"Request to the GP practice {facts.gp_ods_code}: consider prescribing a "
            f"stop-smoking medicine for {full_name(facts)}"
        ),
        "identifier": recommendation_identifier(facts),
        "groupIdentifier": group_identifier(facts),
        "status": "active",
        "subject": subject(facts),
        "about": about,
        "payload": [
            {"contentString": gp_summary(facts, imported=imported)},
            *({"contentReference": dict(request)} for request in requests),
        ],
        "authoredOn": instant(facts.authored_on),
        "requester": requester(facts),
        "recipient": [organisation(facts.gp_ods_code)],
        "sender": organisation(facts.practitioner.organisation_ods),
        "reasonCode": reason_code(),
    }
    return serialise("CommunicationRequest", data)


def _response_period(facts: RecommendationFacts) -> dict[str, Any]:
    period = {"start": instant(facts.authored_on)}
    if facts.respond_by is not None:
        period["end"] = instant(facts.respond_by)
    return period


def task(facts: RecommendationFacts, products: tuple[Product, ...]) -> dict[str, Any]:
    # One Task for the whole request: it focuses on the first medicine's MedicationRequest
    # (Task.focus is 0..1) and shares the combination's groupIdentifier with the others.
    data: dict[str, Any] = {
        "resourceType": "Task",
        "id": facts.task_id,
        "meta": {"profile": [systems.PROFILE_TASK, systems.UKCORE_TASK]},
        "text": narrative(
            f"Please act on the stop-smoking medicine request for {full_name(facts)}: "
            f"{combined_name(products)}"
        ),
        "identifier": recommendation_identifier(facts),
        "groupIdentifier": group_identifier(facts),
        "status": "requested",
        "intent": "order",
        # Elapsed time is not clinical urgency: every request and reminder is routine.
        "priority": "routine",
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
        "lastModified": instant(facts.authored_on),
        "requester": requester(facts),
        "owner": organisation(facts.gp_ods_code),
        # When Liaison starts chasing the practice if nothing has happened.
        "restriction": {"period": _response_period(facts)},
        # Must-support in UK Core Task; the same reason as the MedicationRequest.
        "reasonCode": reason_code()[0],
    }
    return serialise("Task", data)


def _medicine_coding(finding: Finding) -> dict[str, Any] | None:
    medicine = finding.medicine
    if medicine.system and medicine.code:
        return {"system": medicine.system, "code": medicine.code}
    if finding.rule.codes:
        # dm+d codes the deployment imported for this rule's substance (its own release).
        return {"system": systems.DMD, "code": min(finding.rule.codes)}
    return None


def _implicated_medicines(
    findings: tuple[Finding, ...],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each current medicine a finding names, once: a contained Medication (coded where its
    code is known, else by text) and the reference to it."""
    medicines: list[tuple[dict[str, Any], dict[str, Any]]] = []
    seen: set[str] = set()
    for finding in findings:
        name = finding.medicine.name
        if name in seen:
            continue
        seen.add(name)
        local_id = f"medicine-{len(medicines) + 1}"
        code: dict[str, Any] = {"text": name}
        coding = _medicine_coding(finding)
        if coding is not None:
            code["coding"] = [{**coding, "display": name}]
        medication = {
            "resourceType": "Medication",
            "id": local_id,
            "meta": {"profile": [systems.UKCORE_MEDICATION]},
            "code": code,
        }
        medicines.append(
            (medication, {"reference": f"#{local_id}", "type": "Medication", "display": name})
        )
    return medicines


def detected_issue(facts: RecommendationFacts, findings: tuple[Finding, ...]) -> dict[str, Any]:
    worst = findings[0].rule
    implicated = _implicated_medicines(findings)
    data: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": detected_issue_id(facts),
        "meta": {"profile": [systems.PROFILE_DETECTED_ISSUE]},
        "text": narrative(
            f"Clinical safety ({highest_severity(findings)}): stopping smoking can raise the "
            "levels of " + ", ".join(dict.fromkeys(f.medicine.name for f in findings))
        ),
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
        "contained": [medicine for medicine, _ in implicated],
        "implicated": [
            *(reference("MedicationRequest", id_) for id_ in medication_request_ids(facts)),
            *(ref for _, ref in implicated),
        ],
        "detail": f"{mechanism()}\n{safety_advice(findings)}",
        "reference": worst.reference_url,
    }
    return serialise("DetectedIssue", data)
