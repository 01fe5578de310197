"""Pure builders: a recommendation's facts in, FHIR R4 resources (JSON-ready dicts) out.

The work is split by job: `builders_common` (facts checks, identifiers, references),
`builders_resources` (the resources), `builders_prose` (the text a GP practice reads),
`builders_bundle` (the delivery transaction) and `builders_chase_up` (reminders). This module
is the entry point: `build_resources` passes every resource through
`emitted_shape.check_emitted` (`validation.validate_emitted` in full once per shape, plain
checks of the request's own values after that), so a builder can never hand out a resource
that breaks base R4 or Liaison's profiles (definitions/*.json) in a way its input could
cause; the builder tests prove the rest (`validation.validate_all`, the R4B models, UK Core).
"""

from fhir_profiles.builders_bundle import build_transaction_bundle
from fhir_profiles.builders_chase_up import CHASE_UP_ID, ChaseUpRequest, build_chase_up
from fhir_profiles.builders_common import (
    CARE_TEAM_ROLES,
    PLAN_LABELS,
    ResourceSet,
    UnknownPlan,
    UnknownProduct,
    check_facts,
    detected_issue_id,
    resolve_products,
    resource_set_of,
)
from fhir_profiles.builders_parties import patient, practitioner, practitioner_role
from fhir_profiles.builders_prose import care_team_line, gp_summary, safety_advice
from fhir_profiles.builders_resources import (
    communication_request,
    detected_issue,
    medication_request,
    task,
)
from fhir_profiles.emitted_shape import check_emitted
from fhir_profiles.imported_codes import NO_IMPORTED_CODES, ImportedCodes
from fhir_profiles.recommendation import RecommendationFacts
from fhir_profiles.safety import Finding, assess

__all__ = [
    "CARE_TEAM_ROLES",
    "CHASE_UP_ID",
    "PLAN_LABELS",
    "ChaseUpRequest",
    "ResourceSet",
    "UnknownPlan",
    "UnknownProduct",
    "build_chase_up",
    "build_resources",
    "build_transaction_bundle",
    "care_team_line",
    "detected_issue_id",
    "gp_summary",
    "resource_set_of",
    "safety_advice",
    "safety_findings",
]


def safety_findings(
    facts: RecommendationFacts, *, imported: ImportedCodes = NO_IMPORTED_CODES
) -> tuple[Finding, ...]:
    return assess(facts.medicines, imported)


def build_resources(
    facts: RecommendationFacts, *, imported: ImportedCodes = NO_IMPORTED_CODES
) -> ResourceSet:
    """The MedicationRequests (one per medicine: combination NRT is two or three, grouped
    by `groupIdentifier`), CommunicationRequest and Task for one recommendation, the
    Patient, Practitioner and PractitionerRole they refer to, and the DetectedIssue when a
    current medicine needs watching after stopping smoking.

    `imported` holds the dm+d codes a deployment loaded from its own release. Raises
    UnknownProduct, UnknownPlan, ValueError (bad facts) or validation.InvalidResource
    (a builder bug: the output broke a profile rule).
    """
    products = resolve_products(facts, imported)
    check_facts(facts)
    findings = assess(facts.medicines, imported)
    flagged = bool(findings)
    requests = [medication_request(facts, products, n, flagged) for n in range(len(products))]
    resources = ResourceSet(
        medication_request=requests[0],
        additional_medication_requests=tuple(requests[1:]),
        communication_request=communication_request(facts, imported, flagged),
        task=task(facts, products),
        detected_issue=detected_issue(facts, findings) if findings else None,
        patient=patient(facts),
        practitioner=practitioner(facts),
        practitioner_role=practitioner_role(facts),
    )
    check_emitted(resources.all())
    return resources
