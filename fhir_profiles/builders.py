"""Pure builders: a recommendation's facts in, FHIR R4 resources (JSON-ready dicts) out.

Each resource is assembled as a plain dict and passed through the matching
`fhir.resources.R4B` model, so the wire shape is checked by the same library the
rest of Liaison uses; then `validation.validate_all` checks it against base R4 and
Liaison's profiles (definitions/*.json), so a builder can never hand out a resource that
breaks them. docs/FHIR.md lists, resource by resource, why R4B output is valid R4.
"""

import copy
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.task import Task
from fhir_core.fhirabstractmodel import FHIRAbstractModel

from fhir_profiles import systems
from fhir_profiles.catalogue import Product, find_product
from fhir_profiles.imported_codes import NO_IMPORTED_CODES, ImportedCodes
from fhir_profiles.recommendation import CareTeamContact, RecommendationFacts
from fhir_profiles.safety import (
    Finding,
    assess,
    highest_severity,
    mechanism,
    neuropsychiatric_note,
)
from fhir_profiles.validation import validate_all

# Source: base FHIR R4 MedicationRequest.category example binding
# (http://hl7.org/fhir/R4/valueset-medicationrequest-category.html), included in
# UKCore-MedicationRequestCategory.
MEDICATIONREQUEST_CATEGORY: Final = (
    "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
)
# Source: FHIR R4 Duration requires UCUM (http://hl7.org/fhir/R4/datatypes.html#Duration).
UCUM: Final = "http://unitsofmeasure.org"

# Ids of the resources contained in the MedicationRequest (local to it).
CONTAINED_PATIENT: Final = "service-user"
CONTAINED_PRACTITIONER: Final = "practitioner"

# The plan words RecommendationFacts.plan may hold, with how a note names each.
PLAN_LABELS: Final[Mapping[str, str]] = {
    "quit": "quit",
    "reduce": "reduce",
    "temporary-abstinence": "temporary abstinence",
}
_PLAN_AIMS: Final[Mapping[str, str]] = {
    "quit": "to stop smoking",
    "reduce": "to cut down on smoking",
    "temporary-abstinence": "to stay smoke-free for a time (temporary abstinence)",
}
CARE_TEAM_ROLES: Final[Mapping[str, str]] = {
    "psychiatrist": "psychiatrist",
    "care-coordinator": "care coordinator",
}

_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Resource.id syntax from FHIR R4 (http://hl7.org/fhir/R4/datatypes.html#id). The delivery id is
# reused as Bundle.id and inside an ifNoneExist query, so it must be safe in both.
_FHIR_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# Fixed namespace so that non-UUID resource ids still map to the same urn:uuid every time.
_URN_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, systems.LIAISON_CANONICAL)


class UnknownProduct(ValueError):
    """The recommendation names a product that is not in `catalogue.CATALOGUE`."""

    def __init__(self, key: str) -> None:
        super().__init__(f"unknown medication product {key!r}")
        self.key = key


class UnknownPlan(ValueError):
    """The recommendation's plan is not one of `PLAN_LABELS`."""

    def __init__(self, plan: str) -> None:
        super().__init__(f"unknown plan {plan!r}; expected one of {sorted(PLAN_LABELS)}")
        self.plan = plan


@dataclass(frozen=True)
class ResourceSet:
    medication_request: dict[str, Any]
    communication_request: dict[str, Any]
    task: dict[str, Any]
    detected_issue: dict[str, Any] | None = None  # the clinical-safety flag, when one is raised

    def all(self) -> list[dict[str, Any]]:
        resources = [self.medication_request, self.communication_request, self.task]
        return resources + ([self.detected_issue] if self.detected_issue else [])


def _product(facts: RecommendationFacts, imported: ImportedCodes) -> Product:
    product = find_product(facts.medication.product)
    if product is None:
        raise UnknownProduct(facts.medication.product)
    return imported.product(product)


def _check_facts(facts: RecommendationFacts) -> None:
    if facts.plan not in PLAN_LABELS:
        raise UnknownPlan(facts.plan)
    # FHIR dateTime with a time needs a zone; guessing one would misdate the request.
    if facts.authored_on.tzinfo is None or facts.authored_on.utcoffset() is None:
        raise ValueError("authored_on must be timezone-aware")
    if facts.medication.duration_days is not None and facts.medication.duration_days <= 0:
        raise ValueError("duration_days must be positive when given")
    if facts.consent is None or not facts.consent.share_with_gp:
        # Nothing goes to a practice without the service user's consent (UK GDPR Art. 6/9; the
        # service user agreed the referral with the practitioner).
        raise ValueError("consent to share with the GP practice is required")
    if facts.consent.recorded_at.utcoffset() is None:
        raise ValueError("consent.recorded_at must be timezone-aware")
    if facts.care_team is not None and facts.care_team.role not in CARE_TEAM_ROLES:
        raise ValueError(f"care_team.role must be one of {sorted(CARE_TEAM_ROLES)}")


def _serialise(model: type[FHIRAbstractModel], data: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(data).model_dump(mode="json", exclude_none=True)


def _instant(value: datetime) -> str:
    return value.isoformat()


def _full_name(facts: RecommendationFacts) -> str:
    return f"{facts.service_user.given} {facts.service_user.family}".strip()


def _nhs_identifier(facts: RecommendationFacts) -> dict[str, Any]:
    return {"system": systems.NHS_NUMBER, "value": facts.service_user.nhs_number}


def _subject(facts: RecommendationFacts) -> dict[str, Any]:
    return {"identifier": _nhs_identifier(facts), "display": _full_name(facts)}


def _practitioner_identifier(facts: RecommendationFacts) -> dict[str, Any]:
    return {"system": systems.PRACTITIONER_ID, "value": facts.practitioner.id}


def _requester(facts: RecommendationFacts) -> dict[str, Any]:
    return {"identifier": _practitioner_identifier(facts), "display": facts.practitioner.name}


def _organisation(ods_code: str) -> dict[str, Any]:
    return {"identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": ods_code}}


def _recommendation_identifier(facts: RecommendationFacts) -> list[dict[str, Any]]:
    return [{"system": systems.RECOMMENDATION_ID, "value": facts.recommendation_id}]


def _reason_code() -> list[dict[str, Any]]:
    return [
        {
            "coding": [
                {
                    "system": systems.SNOMED_CT,
                    "code": systems.SCT_SMOKING_CESSATION_THERAPY,
                    "display": "Smoking cessation therapy",
                }
            ]
        }
    ]


def _reference(resource_type: str, resource_id: str) -> dict[str, Any]:
    return {"reference": f"{resource_type}/{resource_id}"}


def detected_issue_id(facts: RecommendationFacts) -> str:
    """The DetectedIssue's id: given, or derived so that a rebuilt flag keeps its id."""
    if facts.detected_issue_id:
        return facts.detected_issue_id
    return str(uuid.uuid5(_URN_NAMESPACE, f"{facts.medication_request_id}/DetectedIssue"))


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
        "identifier": [_nhs_identifier(facts)],
        "name": [{"family": user.family, "given": [user.given]}],
        # UK Core Patient carries the registered practice here.
        "generalPractitioner": [_organisation(facts.gp_ods_code)],
    }
    if user.birth_date is not None:
        patient["birthDate"] = user.birth_date.isoformat()
    practitioner = {
        "resourceType": "Practitioner",
        "id": CONTAINED_PRACTITIONER,
        "identifier": [_practitioner_identifier(facts)],
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
    assert facts.consent is not None  # _check_facts
    extensions: list[dict[str, Any]] = [
        {
            "url": systems.EXT_CONSENT,
            "extension": [
                {"url": "shareWithGP", "valueBoolean": True},
                {"url": "notifyServiceUser", "valueBoolean": facts.consent.notify_service_user},
                {"url": "recordedAt", "valueDateTime": _instant(facts.consent.recorded_at)},
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


def _medication_request(
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
    identifiers = _recommendation_identifier(facts) + [
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
        "subject": {"reference": f"#{CONTAINED_PATIENT}", **_subject(facts)},
        "authoredOn": _instant(facts.authored_on),
        "requester": {"reference": f"#{CONTAINED_PRACTITIONER}", **_requester(facts)},
        # 710081004 is a therapy (regime) concept: it says why, not what kind of order.
        "reasonCode": _reason_code(),
        "note": notes,
        "dosageInstruction": [{"text": facts.medication.dose_text}],
        "dispenseRequest": dispense,
        # UK Core MedicationRequest makes substitution 1..1; generic prescribing is fine.
        "substitution": {"allowedBoolean": True},
        "detectedIssue": (
            [_reference("DetectedIssue", detected_issue_id(facts))] if flagged else None
        ),
    }
    return _serialise(MedicationRequest, data)


def _format_nhs_number(nhs_number: str) -> str:
    digits = nhs_number.replace(" ", "")
    if len(digits) == 10 and digits.isdigit():
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return nhs_number


def _format_date(value: date) -> str:
    # Spelled out by hand: strftime("%B") follows the process locale.
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def _unique_rules(findings: tuple[Finding, ...]) -> list[Finding]:
    seen: set[str] = set()
    unique = []
    for finding in findings:
        if finding.rule.key not in seen:
            seen.add(finding.rule.key)
            unique.append(finding)
    return unique


def safety_advice(findings: tuple[Finding, ...]) -> str:
    """The monitoring advice for a set of findings: one paragraph per rule, worst first."""
    return "\n".join(finding.rule.advice for finding in _unique_rules(findings))


def care_team_line(contact: CareTeamContact) -> str:
    return (
        f"Liaison has sent this advice to the service user's {CARE_TEAM_ROLES[contact.role]}, "
        f"{contact.name} ({contact.email})."
    )


def _safety_block(facts: RecommendationFacts, findings: tuple[Finding, ...]) -> list[str]:
    severity = highest_severity(findings)
    names = ", ".join(dict.fromkeys(finding.medicine.name for finding in findings))
    lines = [
        f"CLINICAL SAFETY ({severity} priority): stopping smoking can raise the levels of "
        f"medicines this person takes: {names}.",
        mechanism(),
        safety_advice(findings),
    ]
    if facts.care_team is not None:
        lines.append(care_team_line(facts.care_team))
    else:
        lines.append("No care-team contact was given: please tell whoever manages these medicines.")
    sources = dict.fromkeys(
        f"{source.title} ({source.url})"
        for finding in _unique_rules(findings)
        for source in finding.rule.sources
        if source.url
    )
    lines.append("Sources: " + "; ".join(sources))
    return lines


def gp_summary(facts: RecommendationFacts, *, imported: ImportedCodes = NO_IMPORTED_CODES) -> str:
    """The plain-English request a GP practice reads (it names the patient: it goes to their GP).
    A clinical-safety flag, when raised, comes first."""
    product = _product(facts, imported)
    if facts.plan not in PLAN_LABELS:
        raise UnknownPlan(facts.plan)
    findings = assess(facts.medicines, imported)
    user = facts.service_user
    born = f", born {_format_date(user.birth_date)}" if user.birth_date else ""
    practitioner = facts.practitioner
    lines = [*_safety_block(facts, findings), "----"] if findings else []
    lines += [
        f"{practitioner.name}, mental health smoking cessation practitioner "
        f"(organisation {practitioner.organisation_ods}), recommends {product.name} for "
        f"{_full_name(facts)} (NHS number {_format_nhs_number(user.nhs_number)}{born}), "
        f"who has decided {_PLAN_AIMS[facts.plan]}.",
        f"Dose: {facts.medication.dose_text}",
        "Duration: "
        + (
            f"{facts.medication.duration_days} days"
            if facts.medication.duration_days is not None
            else "not specified"
        ),
        f"Plan: {PLAN_LABELS[facts.plan]}",
        "Current medicines: "
        + (
            ", ".join(medicine.name for medicine in facts.medicines)
            if facts.medicines
            else "none recorded by the practitioner"
        ),
    ]
    if not findings:
        # Source: SPS "Managing specific interactions with smoking" (CYP1A2 induction by
        # tobacco smoke; UKMi advice).
        lines.append(
            "Stopping smoking can raise the blood levels of some medicines, such as clozapine "
            "and olanzapine; none was recognised in the list above, but please review them."
        )
    note = neuropsychiatric_note(product.kind)
    if note:
        lines.append(note)
    lines += [
        "The service user consented to this recommendation being shared with their GP practice.",
        "Please prescribe it, reject the request with a reason, or ask to see the patient, "
        "by updating the linked Task or in the Liaison practice inbox.",
    ]
    if facts.note:
        lines.append(f"Note from the practitioner: {facts.note}")
    return "\n".join(lines)


def _communication_request(
    facts: RecommendationFacts, imported: ImportedCodes, flagged: bool
) -> dict[str, Any]:
    medication_request = _reference("MedicationRequest", facts.medication_request_id)
    about = [medication_request]
    if flagged:
        about.append(_reference("DetectedIssue", detected_issue_id(facts)))
    data: dict[str, Any] = {
        "resourceType": "CommunicationRequest",
        "id": facts.communication_request_id,
        "meta": {"profile": [systems.PROFILE_COMMUNICATION_REQUEST]},
        "identifier": _recommendation_identifier(facts),
        "status": "active",
        "subject": _subject(facts),
        "about": about,
        "payload": [
            {"contentString": gp_summary(facts, imported=imported)},
            {"contentReference": dict(medication_request)},
        ],
        "authoredOn": _instant(facts.authored_on),
        "requester": _requester(facts),
        "recipient": [_organisation(facts.gp_ods_code)],
        "sender": _organisation(facts.practitioner.organisation_ods),
        "reasonCode": _reason_code(),
    }
    return _serialise(CommunicationRequest, data)


def _task(facts: RecommendationFacts) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resourceType": "Task",
        "id": facts.task_id,
        "meta": {"profile": [systems.PROFILE_TASK]},
        "identifier": _recommendation_identifier(facts),
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
        "focus": _reference("MedicationRequest", facts.medication_request_id),
        "for": _subject(facts),
        "authoredOn": _instant(facts.authored_on),
        "requester": _requester(facts),
        "owner": _organisation(facts.gp_ods_code),
        # Must-support in UK Core Task; the same reason as the MedicationRequest.
        "reasonCode": _reason_code()[0],
    }
    return _serialise(Task, data)


def _detected_issue(facts: RecommendationFacts, findings: tuple[Finding, ...]) -> dict[str, Any]:
    worst = findings[0].rule
    data: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": detected_issue_id(facts),
        "meta": {"profile": [systems.PROFILE_DETECTED_ISSUE]},
        "identifier": _recommendation_identifier(facts),
        "status": "final",
        "code": {
            "coding": [
                {"system": systems.V3_ACT_CODE, "code": "DRG", "display": "Drug Interaction Alert"}
            ],
            "text": "Stopping smoking can raise the levels of current medicines (CYP1A2)",
        },
        "severity": highest_severity(findings),
        "patient": _subject(facts),
        "identifiedDateTime": _instant(facts.authored_on),
        "implicated": [
            _reference("MedicationRequest", facts.medication_request_id),
            *({"display": name} for name in dict.fromkeys(f.medicine.name for f in findings)),
        ],
        "detail": f"{mechanism()}\n{safety_advice(findings)}",
        "reference": worst.reference_url,
    }
    return _serialise(DetectedIssue, data)


def safety_findings(
    facts: RecommendationFacts, *, imported: ImportedCodes = NO_IMPORTED_CODES
) -> tuple[Finding, ...]:
    return assess(facts.medicines, imported)


def build_resources(
    facts: RecommendationFacts, *, imported: ImportedCodes = NO_IMPORTED_CODES
) -> ResourceSet:
    """The MedicationRequest, CommunicationRequest and Task for one recommendation, and the
    DetectedIssue when a current medicine needs watching after stopping smoking.

    `imported` holds the dm+d codes a deployment loaded from its own release. Raises
    UnknownProduct, UnknownPlan, ValueError (bad facts) or validation.InvalidResource
    (a builder bug: the output broke a profile rule).
    """
    product = _product(facts, imported)
    _check_facts(facts)
    findings = assess(facts.medicines, imported)
    resources = ResourceSet(
        medication_request=_medication_request(facts, product, bool(findings)),
        communication_request=_communication_request(facts, imported, bool(findings)),
        task=_task(facts),
        detected_issue=_detected_issue(facts, findings) if findings else None,
    )
    validate_all(resources.all())
    return resources


def _urn(resource_id: str) -> str:
    try:
        return f"urn:uuid:{uuid.UUID(resource_id)}"
    except ValueError:
        # urn:uuid must hold a UUID; derive a stable one from an id that is not.
        return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, resource_id)}"


def _rewrite_references(node: Any, urns: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                urns.get(value, value)
                if key == "reference" and isinstance(value, str)
                else _rewrite_references(value, urns)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_references(item, urns) for item in node]
    return node


def build_transaction_bundle(resources: ResourceSet, *, delivery_id: str) -> dict[str, Any]:
    """One delivery attempt as a FHIR transaction of conditional creates.

    Every entry carries the delivery id as an identifier and asks the server to
    create it only if no resource of that type already has it, so a retried
    delivery cannot create duplicates at a conforming server. Same input, same
    output: no clock, no random ids.
    """
    if not _FHIR_ID.fullmatch(delivery_id):
        raise ValueError("delivery_id must be a FHIR id: 1-64 of A-Z a-z 0-9 - .")
    originals = resources.all()
    urns = {f"{r['resourceType']}/{r['id']}": _urn(str(r["id"])) for r in originals}
    entries: list[dict[str, Any]] = []
    for original in originals:
        resource: dict[str, Any] = copy.deepcopy(original)
        resource_type = str(resource["resourceType"])
        full_url = urns[f"{resource_type}/{resource.pop('id')}"]
        meta = resource.get("meta")
        if isinstance(meta, dict):
            # Server-assigned; a client that sends them on create is asking for a rejection.
            meta.pop("versionId", None)
            meta.pop("lastUpdated", None)
            if not meta:
                del resource["meta"]
        resource["identifier"] = [
            identifier
            for identifier in resource.get("identifier", [])
            if identifier.get("system") != systems.DELIVERY_ID
        ] + [{"system": systems.DELIVERY_ID, "value": delivery_id}]
        entries.append(
            {
                "fullUrl": full_url,
                "resource": _rewrite_references(resource, urns),
                "request": {
                    "method": "POST",
                    "url": resource_type,
                    "ifNoneExist": f"identifier={systems.DELIVERY_ID}|{delivery_id}",
                },
            }
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": delivery_id,
        "type": "transaction",
        "entry": entries,
    }
    return _serialise(Bundle, bundle)


# Chase-ups (gateway.domain.chase_ups): a reminder to a practice that has not acted.

CHASE_UP_ID: Final = f"{systems.LIAISON_CANONICAL}/Id/chase-up"


@dataclass(frozen=True)
class ChaseUpRequest:
    resource: dict[str, Any]  # the CommunicationRequest, as Liaison keeps it
    bundle: dict[str, Any]  # the transaction that delivers it (one conditional create)


def build_chase_up(
    *,
    chase_up_id: str,
    number: int,
    original: Mapping[str, Any],
    original_url: str,
    medication_request_url: str,
    authored_on: datetime,
    first_sent_on: date,
    working_days: int,
) -> ChaseUpRequest:
    """A new CommunicationRequest reminding the practice of `original` (the request's own
    CommunicationRequest as Liaison stored it), and the transaction that delivers it.

    The practice's system assigned its own ids to the original resources, so the chase-up
    points at them by Liaison's absolute URLs (readable on Liaison's FHIR API) and by the
    recommendation identifier, which both carry. Conditional create on the chase-up id makes
    a retried send land once. Same input, same output.
    """
    if not _FHIR_ID.fullmatch(chase_up_id):
        raise ValueError("chase_up_id must be a FHIR id: 1-64 of A-Z a-z 0-9 - .")
    if authored_on.tzinfo is None or authored_on.utcoffset() is None:
        raise ValueError("authored_on must be timezone-aware")
    if number < 1 or working_days < 0:
        raise ValueError("number must be 1 or more and working_days not negative")
    recommendation = next(
        (
            dict(i)
            for i in original.get("identifier", [])
            if i.get("system") == systems.RECOMMENDATION_ID
        ),
        None,
    )
    if recommendation is None:
        raise ValueError("the original CommunicationRequest has no recommendation identifier")
    summary = next(
        (str(p["contentString"]) for p in original.get("payload", []) if "contentString" in p),
        "",
    )
    text = (
        f"Reminder {number}: on {_format_date(first_sent_on)} Liaison sent this practice a "
        f"request about a stop-smoking medicine (reference {recommendation['value']}). "
        f"No response has been seen after {working_days} working days. Please accept it, "
        "decline it with a reason, or ask to see the patient, by updating the linked Task "
        "or in the Liaison practice inbox. The original request follows.\n\n" + summary
    )
    original_reference = {
        "reference": original_url,
        "type": "CommunicationRequest",
        "identifier": recommendation,
    }
    data: dict[str, Any] = {
        "resourceType": "CommunicationRequest",
        "id": chase_up_id,
        "meta": copy.deepcopy(
            original.get("meta", {"profile": [systems.PROFILE_COMMUNICATION_REQUEST]})
        ),
        "identifier": [recommendation, {"system": CHASE_UP_ID, "value": chase_up_id}],
        "groupIdentifier": recommendation,
        "status": "active",
        "priority": "routine" if number == 1 else "urgent",
        "subject": copy.deepcopy(original.get("subject")),
        "about": [
            original_reference,
            {"reference": medication_request_url, "type": "MedicationRequest"},
        ],
        "payload": [
            {"contentString": text},
            {"contentReference": dict(original_reference)},
        ],
        "authoredOn": authored_on.isoformat(),
        "requester": copy.deepcopy(original.get("requester")),
        "recipient": copy.deepcopy(original.get("recipient")),
        "sender": copy.deepcopy(original.get("sender")),
        "reasonCode": copy.deepcopy(original.get("reasonCode")),
    }
    for meta_field in ("versionId", "lastUpdated"):
        data["meta"].pop(meta_field, None)
    resource = _serialise(CommunicationRequest, data)
    validate_all([resource])
    sent = copy.deepcopy(resource)
    del sent["id"]
    sent["identifier"] = [
        *sent["identifier"],
        {"system": systems.DELIVERY_ID, "value": chase_up_id},
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": chase_up_id,
        "type": "transaction",
        "entry": [
            {
                "fullUrl": _urn(chase_up_id),
                "resource": sent,
                "request": {
                    "method": "POST",
                    "url": "CommunicationRequest",
                    "ifNoneExist": f"identifier={systems.DELIVERY_ID}|{chase_up_id}",
                },
            }
        ],
    }
    return ChaseUpRequest(resource=resource, bundle=_serialise(Bundle, bundle))
