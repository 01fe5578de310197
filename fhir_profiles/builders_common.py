"""What every builder shares: the facts checks, identifiers, references and serialisation.

Each resource is assembled as a plain dict in the JSON form it is sent in (`serialise` drops
the absent elements). Its fixed shape is proven against the `fhir.resources.R4B` models, base
R4 and UK Core by the builder tests, for every product, plan and safety case; at run time
`emitted_shape.check_emitted` checks what the input can change (`validation.validate_emitted`
in full once per shape). docs/FHIR.md lists, resource by resource, why the output is valid R4.
"""

import html
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from fhir_profiles import systems
from fhir_profiles.catalogue import Product, find_product
from fhir_profiles.combinations import combination_problem
from fhir_profiles.imported_codes import NO_IMPORTED_CODES, ImportedCodes
from fhir_profiles.recommendation import RecommendationFacts

# Source: base FHIR R4 MedicationRequest.category example binding
# (http://hl7.org/fhir/R4/valueset-medicationrequest-category.html), included in
# UKCore-MedicationRequestCategory.
MEDICATIONREQUEST_CATEGORY: Final = (
    "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
)
# Source: FHIR R4 Duration requires UCUM (http://hl7.org/fhir/R4/datatypes.html#Duration).
UCUM: Final = "http://unitsofmeasure.org"
# Source: base FHIR R4 CodeSystem medicationrequest-course-of-therapy, included in
# UKCore-MedicationRequestCourseOfTherapy.
COURSE_OF_THERAPY: Final = (
    "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
)

# The plan words RecommendationFacts.plan may hold, with how a note names each.
PLAN_LABELS: Final[Mapping[str, str]] = {
    "quit": "quit",
    "reduce": "reduce",
    "temporary-abstinence": "temporary abstinence",
}
PLAN_AIMS: Final[Mapping[str, str]] = {
    "quit": "to stop smoking",
    "reduce": "to cut down on smoking",
    "temporary-abstinence": "to stay smoke-free for a time (temporary abstinence)",
}
CARE_TEAM_ROLES: Final[Mapping[str, str]] = {
    "psychiatrist": "psychiatrist",
    "care-coordinator": "care coordinator",
    "clozapine-clinic": "clozapine clinic",
}

MONTHS: Final = (
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
FHIR_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# Fixed namespace so that non-UUID resource ids still map to the same urn:uuid every time.
URN_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, systems.LIAISON_CANONICAL)


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
    medication_request: dict[str, Any]  # the first medicine: the one the Task focuses on
    communication_request: dict[str, Any]
    task: dict[str, Any]
    detected_issue: dict[str, Any] | None = None  # the clinical-safety flag, when one is raised

    # The people the request is about and from, as resources of their own (UK Core Patient,
    # Practitioner, PractitionerRole). None only in sets stored before they were built.
    patient: dict[str, Any] | None = None
    practitioner: dict[str, Any] | None = None
    practitioner_role: dict[str, Any] | None = None
    # Combination NRT: the other medicines' MedicationRequests, in the order chosen.
    additional_medication_requests: tuple[dict[str, Any], ...] = ()

    @property
    def medication_requests(self) -> tuple[dict[str, Any], ...]:
        return (self.medication_request, *self.additional_medication_requests)

    def all(self) -> list[dict[str, Any]]:
        parties = [self.patient, self.practitioner, self.practitioner_role]
        resources = [r for r in parties if r is not None]
        resources += [*self.medication_requests, self.communication_request, self.task]
        return resources + ([self.detected_issue] if self.detected_issue else [])


def resource_set_of(resources: Sequence[dict[str, Any]]) -> ResourceSet:
    """A stored recommendation's resources as a ResourceSet: the MedicationRequest the Task
    focuses on first, then the others in the order given (a combination's order)."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(str(resource["resourceType"]), []).append(resource)
    task = by_type["Task"][0]
    communication = by_type["CommunicationRequest"][0]
    # The CommunicationRequest's `about` lists the medicines in the order chosen.
    order = [str(ref.get("reference", "")) for ref in communication.get("about", [])]
    focus = str(task.get("focus", {}).get("reference", ""))

    def rank(request: dict[str, Any]) -> tuple[bool, int, str]:
        ref = f"MedicationRequest/{request['id']}"
        return (ref != focus, order.index(ref) if ref in order else len(order), ref)

    requests = sorted(by_type["MedicationRequest"], key=rank)

    def single(resource_type: str) -> dict[str, Any] | None:
        found = by_type.get(resource_type)
        return found[0] if found else None

    return ResourceSet(
        medication_request=requests[0],
        additional_medication_requests=tuple(requests[1:]),
        communication_request=communication,
        task=task,
        detected_issue=single("DetectedIssue"),
        patient=single("Patient"),
        practitioner=single("Practitioner"),
        practitioner_role=single("PractitionerRole"),
    )


def resolve_product(facts: RecommendationFacts, imported: ImportedCodes) -> Product:
    """The first medicine's product (the one `medication` names)."""
    return resolve_products(facts, imported)[0]


def resolve_products(facts: RecommendationFacts, imported: ImportedCodes) -> tuple[Product, ...]:
    """Every medicine's product, `medication` first, with the deployment's imported codes."""
    products = []
    for choice in facts.medications:
        product = find_product(choice.product)
        if product is None:
            raise UnknownProduct(choice.product)
        products.append(imported.product(product))
    return tuple(products)


def check_facts(facts: RecommendationFacts) -> None:
    if facts.plan not in PLAN_LABELS:
        raise UnknownPlan(facts.plan)
    # FHIR dateTime with a time needs a zone; guessing one would misdate the request.
    if facts.authored_on.tzinfo is None or facts.authored_on.utcoffset() is None:
        raise ValueError("authored_on must be timezone-aware")
    for choice in facts.medications:
        if choice.duration_days is not None and choice.duration_days <= 0:
            raise ValueError("duration_days must be positive when given")
    # The API refuses these first (422); a caller of the builders is held to the same rule.
    problem = combination_problem(resolve_products(facts, NO_IMPORTED_CODES))
    if problem is not None:
        raise ValueError(f"these medicines cannot be recommended together: {problem}")
    if facts.consent is None or not facts.consent.share_with_gp:
        # Nothing goes to a practice without the service user's consent (UK GDPR Art. 6/9; the
        # service user agreed the referral with the practitioner).
        raise ValueError("consent to share with the GP practice is required")
    if facts.consent.recorded_at.utcoffset() is None:
        raise ValueError("consent.recorded_at must be timezone-aware")
    for index, member in enumerate(facts.care_team_members):
        if member.role not in CARE_TEAM_ROLES:
            raise ValueError(f"care_team[{index}].role must be one of {sorted(CARE_TEAM_ROLES)}")


def serialise(resource_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` without its None values: what `model.model_validate(data).model_dump(mode="json",
    exclude_none=True)` returns for a builder's dict (the builder tests compare the two), at a
    fraction of the cost, since building the model only to dump it again did nothing else.
    Named by its type rather than its R4B model class, so that building (the API's intake)
    loads no fhir.resources model: about 9 MB of every API process."""
    if data.get("resourceType") != resource_type:
        raise ValueError(f"a {resource_type} builder made a {data.get('resourceType')!r}")
    pruned: dict[str, Any] = _without_none(data)
    return pruned


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


def narrative(summary: str) -> dict[str, Any]:
    """A generated narrative (http://hl7.org/fhir/R4/narrative.html): one escaped paragraph."""
    div = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(summary)}</p></div>'
    return {"status": "generated", "div": div}


def instant(value: datetime) -> str:
    """ISO 8601 with UTC written `Z`, as the R4B models render it (FHIR allows either)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def full_name(facts: RecommendationFacts) -> str:
    return f"{facts.service_user.given} {facts.service_user.family}".strip()


def nhs_identifier(facts: RecommendationFacts) -> dict[str, Any]:
    return {"system": systems.NHS_NUMBER, "value": facts.service_user.nhs_number}


def party_id(facts: RecommendationFacts, resource_type: str) -> str:
    """The id of the Patient, Practitioner or PractitionerRole built for one recommendation:
    derived, so that a rebuilt set keeps its ids."""
    return str(uuid.uuid5(URN_NAMESPACE, f"{facts.medication_request_id}/{resource_type}"))


def subject(facts: RecommendationFacts) -> dict[str, Any]:
    return {
        **reference("Patient", party_id(facts, "Patient")),
        "identifier": nhs_identifier(facts),
        "display": full_name(facts),
    }


def practitioner_identifier(facts: RecommendationFacts) -> dict[str, Any]:
    return {"system": systems.PRACTITIONER_ID, "value": facts.practitioner.id}


def requester(facts: RecommendationFacts) -> dict[str, Any]:
    return {
        **reference("Practitioner", party_id(facts, "Practitioner")),
        "identifier": practitioner_identifier(facts),
        "display": facts.practitioner.name,
    }


def organisation(ods_code: str) -> dict[str, Any]:
    return {
        "type": "Organization",
        "identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": ods_code},
    }


def recommendation_identifier(facts: RecommendationFacts) -> list[dict[str, Any]]:
    return [{"system": systems.RECOMMENDATION_ID, "value": facts.recommendation_id}]


def reason_code() -> list[dict[str, Any]]:
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


def reference(resource_type: str, resource_id: str) -> dict[str, Any]:
    # Reference.type says what a reference points at even where it cannot be resolved
    # (http://hl7.org/fhir/R4/references.html#Reference).
    return {"reference": f"{resource_type}/{resource_id}", "type": resource_type}


def medication_request_ids(facts: RecommendationFacts) -> tuple[str, ...]:
    """One MedicationRequest id per medicine: the given one, then ids derived from it, so
    that a rebuilt combination keeps its ids."""
    extra = (
        str(uuid.uuid5(URN_NAMESPACE, f"{facts.medication_request_id}/MedicationRequest/{n}"))
        for n in range(2, len(facts.medications) + 1)
    )
    return (facts.medication_request_id, *extra)


def group_identifier(facts: RecommendationFacts) -> dict[str, Any] | None:
    """What ties a combination's requests together (MedicationRequest, CommunicationRequest
    and Task `groupIdentifier`, http://hl7.org/fhir/R4/request.html#compositional): the
    recommendation's own identifier; None for a single medicine."""
    if len(facts.medications) < 2:
        return None
    return {"system": systems.RECOMMENDATION_ID, "value": facts.recommendation_id}


def detected_issue_id(facts: RecommendationFacts) -> str:
    """The DetectedIssue's id: given, or derived so that a rebuilt flag keeps its id."""
    if facts.detected_issue_id:
        return facts.detected_issue_id
    return str(uuid.uuid5(URN_NAMESPACE, f"{facts.medication_request_id}/DetectedIssue"))


def format_nhs_number(nhs_number: str) -> str:
    digits = nhs_number.replace(" ", "")
    if len(digits) == 10 and digits.isdigit():
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return nhs_number


def format_date(value: date) -> str:
    # Spelled out by hand: strftime("%B") follows the process locale.
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def urn(resource_id: str) -> str:
    try:
        return f"urn:uuid:{uuid.UUID(resource_id)}"
    except ValueError:
        # urn:uuid must hold a UUID; derive a stable one from an id that is not.
        return f"urn:uuid:{uuid.uuid5(URN_NAMESPACE, resource_id)}"
