"""Pure builders: a recommendation's facts in, FHIR R4 resources (JSON-ready dicts) out.

Each resource is assembled as a plain dict and passed through the matching
`fhir.resources.R4B` model, so the wire shape is checked by the same library the
rest of Liaison uses; R4B and R4 have the same elements for MedicationRequest,
CommunicationRequest, Task and Bundle (see the field comparison in the tests).
The result then goes through `validation.validate_all`, so a builder can never
hand out a resource that breaks Liaison's own profile rules.
"""

import copy
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.task import Task
from fhir_core.fhirabstractmodel import FHIRAbstractModel

from fhir_profiles import systems
from fhir_profiles.catalogue import Product, find_product
from fhir_profiles.recommendation import RecommendationFacts
from fhir_profiles.validation import validate_all

# Source: base FHIR R4 MedicationRequest.category example binding
# (http://hl7.org/fhir/R4/valueset-medicationrequest-category.html).
MEDICATIONREQUEST_CATEGORY: Final = (
    "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
)
# Source: FHIR R4 Duration requires UCUM (http://hl7.org/fhir/R4/datatypes.html#Duration).
UCUM: Final = "http://unitsofmeasure.org"

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

    def all(self) -> list[dict[str, Any]]:
        return [self.medication_request, self.communication_request, self.task]


def _product(facts: RecommendationFacts) -> Product:
    product = find_product(facts.medication.product)
    if product is None:
        raise UnknownProduct(facts.medication.product)
    return product


def _check_facts(facts: RecommendationFacts) -> None:
    if facts.plan not in PLAN_LABELS:
        raise UnknownPlan(facts.plan)
    # FHIR dateTime with a time needs a zone; guessing one would misdate the request.
    if facts.authored_on.tzinfo is None or facts.authored_on.utcoffset() is None:
        raise ValueError("authored_on must be timezone-aware")
    if facts.medication.duration_days is not None and facts.medication.duration_days <= 0:
        raise ValueError("duration_days must be positive when given")


def _serialise(model: type[FHIRAbstractModel], data: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(data).model_dump(mode="json", exclude_none=True)


def _full_name(facts: RecommendationFacts) -> str:
    return f"{facts.service_user.given} {facts.service_user.family}".strip()


def _subject(facts: RecommendationFacts) -> dict[str, Any]:
    return {
        "identifier": {"system": systems.NHS_NUMBER, "value": facts.service_user.nhs_number},
        "display": _full_name(facts),
    }


def _requester(facts: RecommendationFacts) -> dict[str, Any]:
    return {
        "identifier": {"system": systems.PRACTITIONER_ID, "value": facts.practitioner.id},
        "display": facts.practitioner.name,
    }


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


def _medication_concept(product: Product) -> dict[str, Any]:
    coding: list[dict[str, Any]] = [
        {"system": systems.MEDICATION_CATALOGUE, "code": product.key, "display": product.name}
    ]
    if product.dmd_code is not None:
        coding.insert(0, {"system": systems.DMD, "code": product.dmd_code, "display": product.name})
    return {"coding": coding, "text": product.name}


def _medication_request(facts: RecommendationFacts, product: Product) -> dict[str, Any]:
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
    data: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": facts.medication_request_id,
        "meta": {"profile": [systems.PROFILE_MEDICATION_REQUEST]},
        "identifier": _recommendation_identifier(facts),
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
        "subject": _subject(facts),
        "authoredOn": facts.authored_on.isoformat(),
        "requester": _requester(facts),
        # 710081004 is a therapy (regime) concept: it says why, not what kind of order.
        "reasonCode": _reason_code(),
        "note": notes,
        "dosageInstruction": [{"text": facts.medication.dose_text}],
        "dispenseRequest": dispense,
        # UK Core MedicationRequest makes substitution 1..1; generic prescribing is fine.
        "substitution": {"allowedBoolean": True},
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


def gp_summary(facts: RecommendationFacts) -> str:
    """The plain-English request a GP practice reads (it names the patient: it goes to their GP)."""
    product = _product(facts)
    if facts.plan not in PLAN_LABELS:
        raise UnknownPlan(facts.plan)
    user = facts.service_user
    born = f", born {_format_date(user.birth_date)}" if user.birth_date else ""
    practitioner = facts.practitioner
    lines = [
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
            ", ".join(facts.current_medications)
            if facts.current_medications
            else "none recorded by the practitioner"
        ),
        # Source: shared/REFERENCE.md (CYP1A2 induction by tobacco smoke; SPS, UKMi advice).
        "Stopping smoking can raise the blood levels of some medicines, such as clozapine "
        "and olanzapine; please review them.",
        "The service user consented to this recommendation being shared with their GP practice.",
        "Please prescribe it, reject the request with a reason, or ask to see the patient, "
        "by updating the linked Task or in the Liaison practice inbox.",
    ]
    if facts.note:
        lines.append(f"Note from the practitioner: {facts.note}")
    return "\n".join(lines)


def _communication_request(facts: RecommendationFacts) -> dict[str, Any]:
    medication_request = _reference("MedicationRequest", facts.medication_request_id)
    data: dict[str, Any] = {
        "resourceType": "CommunicationRequest",
        "id": facts.communication_request_id,
        "meta": {"profile": [systems.PROFILE_COMMUNICATION_REQUEST]},
        "identifier": _recommendation_identifier(facts),
        "status": "active",
        "subject": _subject(facts),
        "about": [medication_request],
        "payload": [
            {"contentString": gp_summary(facts)},
            {"contentReference": dict(medication_request)},
        ],
        "authoredOn": facts.authored_on.isoformat(),
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
        "authoredOn": facts.authored_on.isoformat(),
        "requester": _requester(facts),
        "owner": _organisation(facts.gp_ods_code),
        # Must-support in UK Core Task; the same reason as the MedicationRequest.
        "reasonCode": _reason_code()[0],
    }
    return _serialise(Task, data)


def build_resources(facts: RecommendationFacts) -> ResourceSet:
    """The MedicationRequest, CommunicationRequest and Task for one recommendation.

    Raises UnknownProduct, UnknownPlan, ValueError (bad facts) or
    validation.InvalidResource (a builder bug: the output broke a profile rule).
    """
    product = _product(facts)
    _check_facts(facts)
    resources = ResourceSet(
        medication_request=_medication_request(facts, product),
        communication_request=_communication_request(facts),
        task=_task(facts),
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
