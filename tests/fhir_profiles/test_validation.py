import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from fhir_profiles import systems
from fhir_profiles.builders import ResourceSet, build_resources, build_transaction_bundle
from fhir_profiles.recommendation import (
    MedicationChoice,
    Practitioner,
    RecommendationFacts,
    ServiceUser,
)
from fhir_profiles.validation import InvalidResource, Issue, validate_all, validate_resource


def _resources() -> ResourceSet:
    return build_resources(
        RecommendationFacts(
            recommendation_id="rec-9",
            service_user=ServiceUser("9434765919", "Jo", "Bloggs"),
            practitioner=Practitioner("prac-1", "Kim Lee", "kim@example.org", "RX4"),
            gp_ods_code="B82001",
            medication=MedicationChoice("nicotine-21mg-24h-patches", "One patch a day", 56),
            plan="reduce",
            authored_on=datetime(2025, 2, 1, 14, 0, tzinfo=UTC),
            medication_request_id="mr-9",
            communication_request_id="cr-9",
            task_id="task-9",
        )
    )


def _issues(resource: dict[str, Any]) -> list[Issue]:
    with pytest.raises(InvalidResource) as caught:
        validate_resource(resource)
    return caught.value.issues


def _paths(resource: dict[str, Any]) -> set[str]:
    return {issue.path for issue in _issues(resource)}


def test_built_resources_are_valid() -> None:
    validate_all(_resources().all())


# --- MedicationRequest -----------------------------------------------------------------


def test_medication_request_with_intent_order_fails() -> None:
    mr = {**_resources().medication_request, "intent": "order"}
    issues = _issues(mr)
    assert [issue.path for issue in issues] == ["MedicationRequest.intent"]
    assert "proposal" in issues[0].message


def test_medication_request_without_subject_fails() -> None:
    mr = _resources().medication_request
    del mr["subject"]
    assert "MedicationRequest.subject" in _paths(mr)


def test_medication_request_subject_must_be_an_nhs_number() -> None:
    mr = _resources().medication_request
    mr["subject"] = {"identifier": {"system": "urn:oid:1.2.3", "value": "9434765919"}}
    assert _paths(mr) == {"MedicationRequest.subject.identifier"}


def test_medication_request_subject_nhs_number_check_digit() -> None:
    mr = _resources().medication_request
    mr["subject"]["identifier"]["value"] = "9434765918"
    assert _paths(mr) == {"MedicationRequest.subject.identifier.value"}


def test_medication_request_needs_medication_and_substitution() -> None:
    mr = _resources().medication_request
    del mr["medicationCodeableConcept"]
    del mr["substitution"]
    assert {
        "MedicationRequest.medicationCodeableConcept",
        "MedicationRequest.substitution",
    } <= _paths(mr)


def test_medication_request_status_code_is_checked() -> None:
    mr = {**_resources().medication_request, "status": "pending"}
    assert _paths(mr) == {"MedicationRequest.status"}


def test_medication_request_needs_the_recommendation_identifier() -> None:
    mr = {**_resources().medication_request, "identifier": []}
    assert "MedicationRequest.identifier" in _paths(mr)


def test_structural_errors_name_a_dotted_path() -> None:
    mr = _resources().medication_request
    mr["dosageInstruction"] = [{"text": 12}]
    mr["authoredOn"] = "yesterday"
    assert {
        "MedicationRequest.dosageInstruction[0].text",
        "MedicationRequest.authoredOn",
    } <= _paths(mr)


def test_unknown_element_is_reported() -> None:
    mr = {**_resources().medication_request, "colour": "blue"}
    assert "MedicationRequest.colour" in _paths(mr)


# --- CommunicationRequest --------------------------------------------------------------


def test_communication_request_needs_an_ods_recipient() -> None:
    cr = _resources().communication_request
    del cr["recipient"]
    assert "CommunicationRequest.recipient" in _paths(cr)
    cr["recipient"] = [{"identifier": {"system": "urn:other", "value": "B82001"}}]
    assert _paths(cr) == {"CommunicationRequest.recipient[0].identifier"}


def test_communication_request_needs_a_payload() -> None:
    cr = _resources().communication_request
    del cr["payload"]
    assert _paths(cr) == {"CommunicationRequest.payload"}


# --- Task ------------------------------------------------------------------------------


def test_task_needs_an_ods_owner() -> None:
    task = _resources().task
    del task["owner"]
    assert _paths(task) == {"Task.owner"}
    task["owner"] = {"reference": "Organization/1"}
    assert _paths(task) == {"Task.owner.identifier"}


def test_task_needs_a_focus() -> None:
    task = _resources().task
    del task["focus"]
    assert _paths(task) == {"Task.focus"}


def test_task_status_and_intent_codes_are_checked() -> None:
    task = {**_resources().task, "status": "done", "intent": "wish"}
    assert _paths(task) == {"Task.status", "Task.intent"}


# --- resource types, bundles, aggregation ----------------------------------------------


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ({}, "resourceType"),
        ({"resourceType": "Nonsense"}, "resourceType"),
        ({"resourceType": "Coding", "code": "x"}, "resourceType"),
    ],
)
def test_bad_resource_types(resource: dict[str, Any], path: str) -> None:
    assert _paths(resource) == {path}


def test_other_resource_types_get_structural_checks_only() -> None:
    validate_resource({"resourceType": "Patient", "id": "p1", "gender": "unknown"})
    assert _paths({"resourceType": "Patient", "gender": 3}) == {"Patient.gender"}


def test_bundle_entries_get_profile_rules() -> None:
    bundle = build_transaction_bundle(_resources(), delivery_id="dlv-3")
    validate_resource(bundle)
    broken = copy.deepcopy(bundle)
    broken["entry"][0]["resource"]["intent"] = "order"
    del broken["entry"][2]["resource"]["owner"]
    assert _paths(broken) == {
        "Bundle.entry[0].resource.intent",
        "Bundle.entry[2].resource.owner",
    }


def test_validate_all_reports_every_resource() -> None:
    resources = _resources()
    mr = {**resources.medication_request, "intent": "plan"}
    task = {**resources.task}
    del task["focus"]
    with pytest.raises(InvalidResource) as caught:
        validate_all([mr, resources.communication_request, task])
    assert {issue.path for issue in caught.value.issues} == {
        "MedicationRequest.intent",
        "Task.focus",
    }
    assert "MedicationRequest.intent" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_validation_does_not_modify_its_input() -> None:
    mr = _resources().medication_request
    mr["intent"] = "order"
    before = copy.deepcopy(mr)
    _issues(mr)
    assert mr == before
    assert mr["subject"]["identifier"]["system"] == systems.NHS_NUMBER
