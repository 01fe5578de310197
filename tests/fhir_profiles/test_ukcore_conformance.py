"""Everything the builders can produce conforms to the official UK Core R4 profiles (read
from ../shared/ukcore) and to base R4: every product, plan and safety case, the transaction
bundles, the chase-ups, and the resources Liaison serves."""

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from fhir_profiles import systems
from fhir_profiles.builders import (
    PLAN_LABELS,
    build_chase_up,
    build_resources,
    build_transaction_bundle,
)
from fhir_profiles.catalogue import CATALOGUE
from fhir_profiles.ukcore import conformance_issues, ukcore_issues
from tests.fhir_profiles.factories import (
    COMBINATIONS,
    SAFETY_CASES,
    make_combination_facts,
    make_facts,
)
from tests.fhir_profiles.ukcore_package import ukcore

_CASES = sorted(SAFETY_CASES)
BATTERY = [
    (product, plan, _CASES[index % len(_CASES)])
    for index, (product, plan) in enumerate(
        (product, plan) for product in sorted(CATALOGUE) for plan in sorted(PLAN_LABELS)
    )
]
# Every combination with every plan, the safety cases rotating through them.
COMBINATION_BATTERY = [
    (keys, plan, _CASES[index % len(_CASES)])
    for index, (keys, plan) in enumerate(
        (keys, plan) for keys in COMBINATIONS for plan in sorted(PLAN_LABELS)
    )
]
# Every resource type Liaison emits, with the UK Core profile it declares (None: UK Core
# has no profile for that type, so it derives from base R4).
UK_CORE_PROFILE = {
    "Patient": systems.UKCORE_PATIENT,
    "Practitioner": systems.UKCORE_PRACTITIONER,
    "PractitionerRole": systems.UKCORE_PRACTITIONER_ROLE,
    "MedicationRequest": systems.UKCORE_MEDICATION_REQUEST,
    "Task": systems.UKCORE_TASK,
    "Bundle": systems.UKCORE_BUNDLE,
    "CommunicationRequest": None,
    "DetectedIssue": None,
}


@pytest.mark.parametrize(("product_key", "plan", "case"), BATTERY)
def test_every_product_plan_and_safety_case_conforms_to_uk_core(
    product_key: str, plan: str, case: str
) -> None:
    resources = build_resources(
        make_facts(product_key, plan, current_medications=SAFETY_CASES[case])
    )
    for resource in resources.all():
        assert conformance_issues(resource, ukcore()) == [], resource["resourceType"]
    bundle = build_transaction_bundle(resources, delivery_id="dlv-1")
    assert conformance_issues(bundle, ukcore()) == []


@pytest.mark.parametrize(("keys", "plan", "case"), COMBINATION_BATTERY)
def test_every_combination_conforms_to_uk_core(keys: tuple[str, ...], plan: str, case: str) -> None:
    resources = build_resources(
        make_combination_facts(keys, plan, current_medications=SAFETY_CASES[case])
    )
    assert len(resources.medication_requests) == len(keys)
    for resource in resources.all():
        assert conformance_issues(resource, ukcore()) == [], resource["resourceType"]
    bundle = build_transaction_bundle(resources, delivery_id="dlv-1")
    assert conformance_issues(bundle, ukcore()) == []


def test_each_emitted_type_declares_its_uk_core_profile_and_a_narrative() -> None:
    resources = build_resources(make_facts(current_medications=SAFETY_CASES["clozapine"]))
    bundle = build_transaction_bundle(resources, delivery_id="dlv-1")
    emitted = [bundle, *(entry["resource"] for entry in bundle["entry"])]
    assert {r["resourceType"] for r in emitted} == set(UK_CORE_PROFILE)
    for resource in emitted:
        expected = UK_CORE_PROFILE[resource["resourceType"]]
        if expected is not None:
            assert expected in resource["meta"]["profile"], resource["resourceType"]
            assert expected in ukcore().structures
        if resource["resourceType"] != "Bundle":
            assert resource["text"]["status"] == "generated"


def test_the_bundle_carries_the_patient_as_a_resource_not_contained() -> None:
    resources = build_resources(make_facts())
    bundle = build_transaction_bundle(resources, delivery_id="dlv-1")
    by_type = {entry["resource"]["resourceType"]: entry for entry in bundle["entry"]}
    patient_url = by_type["Patient"]["fullUrl"]
    for kind, field in (
        ("MedicationRequest", "subject"),
        ("CommunicationRequest", "subject"),
        ("Task", "for"),
    ):
        assert by_type[kind]["resource"][field]["reference"] == patient_url
        assert by_type[kind]["resource"][field]["type"] == "Patient"
        assert "contained" not in by_type[kind]["resource"]


@pytest.mark.parametrize("number", [1, 2, 3])
def test_every_chase_up_conforms_and_stays_routine(number: int) -> None:
    original = build_resources(make_facts()).communication_request
    request = build_chase_up(
        chase_up_id=f"chase-{number}",
        number=number,
        original=original,
        original_url=f"https://liaison.test/fhir/CommunicationRequest/{original['id']}",
        medication_request_url="https://liaison.test/fhir/MedicationRequest/x",
        authored_on=datetime(2025, 1, 20, 9, 0, tzinfo=UTC),
        first_sent_on=date(2025, 1, 15),
        working_days=3 * number,
    )
    assert request.resource["priority"] == "routine"
    assert conformance_issues(request.resource, ukcore()) == []
    assert conformance_issues(request.bundle, ukcore()) == []


def test_served_resources_conform_as_stored_with_server_meta() -> None:
    # What /fhir/<type>/<id> serves: the stored body with versionId and lastUpdated added.
    resources = build_resources(make_facts(current_medications=SAFETY_CASES["clozapine"]))
    for stored in resources.all():
        served: dict[str, Any] = copy.deepcopy(stored)
        served["meta"] = {**served["meta"], "versionId": "2", "lastUpdated": "2025-01-16T10:00:00Z"}
        assert ukcore_issues(served, ukcore()) == []


def test_the_pre_uk_core_shape_is_refused() -> None:
    # A contained, unverified #service-user (what Liaison sent before) breaks the profiles.
    mr = copy.deepcopy(build_resources(make_facts()).medication_request)
    mr["contained"] = [
        {
            "resourceType": "Patient",
            "id": "service-user",
            "identifier": [{"system": systems.NHS_NUMBER, "value": "9434765919"}],
        }
    ]
    mr["subject"] = {"reference": "#service-user"}
    assert any("contained" in issue.path for issue in conformance_issues(mr, ukcore()))
