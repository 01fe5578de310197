"""What the builders hand out at run time is checked for what its input can change
(`validate_emitted`); the fixed rest is proven here, for every shape the builders make,
against the R4B models and every layer of `validate_all`."""

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhir_profiles.builders import CARE_TEAM_ROLES, build_resources, build_transaction_bundle
from fhir_profiles.builders_common import serialise
from fhir_profiles.catalogue import CATALOGUE
from fhir_profiles.issues import InvalidResource
from fhir_profiles.recommendation import ProfessionalRegistration, RecommendationFacts
from fhir_profiles.validation import validate_all, validate_emitted
from tests.fhir_profiles.factories import (
    COMBINATIONS,
    SAFETY_CASES,
    make_combination_facts,
    make_facts,
)


def _variants() -> list[RecommendationFacts]:
    """Every product, each safety case, each combination, and each optional part present
    and absent."""
    base = make_facts()
    facts = [make_facts(product) for product in sorted(CATALOGUE)]
    facts += [make_facts(current_medications=case) for case in SAFETY_CASES.values()]
    facts += [make_combination_facts(keys) for keys in COMBINATIONS]
    facts += [
        dataclasses.replace(base, note=None, care_team=None, source_identifiers=()),
        dataclasses.replace(
            base,
            medication=dataclasses.replace(base.medication, duration_days=None),
            service_user=dataclasses.replace(base.service_user, birth_date=None),
        ),
        dataclasses.replace(
            base,
            practitioner=dataclasses.replace(
                base.practitioner,
                sds_user_id="555021935107",
                sds_role_profile_id="555021936108",
                registration=ProfessionalRegistration("GMC", "7654321"),
            ),
            source_identifiers=(("https://trust.example.org/referral", "REF-1"),),
        ),
    ]
    # Addressed to a known practice: the Task carries the date Liaison starts chasing.
    facts.append(dataclasses.replace(base, respond_by=base.authored_on + timedelta(days=7)))
    facts += [
        dataclasses.replace(base, care_team=dataclasses.replace(base.care_team, role=role))
        for role in CARE_TEAM_ROLES
        if base.care_team is not None
    ]
    return facts


def _round_trip(resource: dict[str, Any]) -> dict[str, Any]:
    model = get_fhir_model_class(resource["resourceType"])
    dumped: dict[str, Any] = model.model_validate(resource).model_dump(
        mode="json", exclude_none=True
    )
    return dumped


@pytest.mark.parametrize("facts", _variants())
def test_built_resources_are_what_the_r4b_models_make_of_them(facts: RecommendationFacts) -> None:
    resources = build_resources(facts)
    bundle = build_transaction_bundle(resources, delivery_id="dlv-1")
    for resource in [*resources.all(), bundle]:
        # serialise no longer passes through the models: the dict must already be their output.
        assert _round_trip(resource) == resource, resource["resourceType"]
    # Every layer, the R4B models and the base R4 invariants included.
    validate_all([*resources.all(), bundle])


def test_serialise_drops_absent_elements_and_refuses_the_wrong_type() -> None:
    data = {"resourceType": "Task", "status": "requested", "note": None, "input": [{"x": None}]}
    assert serialise("Task", data) == {"resourceType": "Task", "status": "requested", "input": [{}]}
    with pytest.raises(ValueError, match="Task builder"):
        serialise("Task", {"resourceType": "Patient"})


def _issue_paths(facts: RecommendationFacts) -> set[str]:
    with pytest.raises(InvalidResource) as caught:
        build_resources(facts)
    return {issue.path for issue in caught.value.issues}


def test_an_invalid_nhs_number_from_the_input_is_refused_at_build_time() -> None:
    base = make_facts()
    facts = dataclasses.replace(
        base, service_user=dataclasses.replace(base.service_user, nhs_number="9434765918")
    )
    assert "MedicationRequest.subject.identifier" in _issue_paths(facts)


def test_a_malformed_practice_code_from_the_input_is_refused_at_build_time() -> None:
    assert _issue_paths(make_facts(gp_ods_code="not an ODS code"))


def test_input_text_that_breaks_base_r4_is_refused_at_build_time() -> None:
    # FHIR strings must not be empty (ele-1): an empty dose cannot be sent.
    base = make_facts()
    facts = dataclasses.replace(base, medication=dataclasses.replace(base.medication, dose_text=""))
    assert "MedicationRequest.dosageInstruction[0].text" in _issue_paths(facts)


def test_validate_emitted_passes_what_the_builders_make() -> None:
    validate_emitted(build_resources(make_facts()).all())
