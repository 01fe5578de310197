"""Pharmacy words from the NHS Prescription Status Update API, read through the ConceptMap
Liaison publishes."""

import pytest

from fhir_profiles import systems
from fhir_profiles.conformance import definitions
from fhir_profiles.task_status import GP_REPORTED, PSU_TO_STATUS, fold, interpret_task
from fhir_profiles.terminology import display, expand

PSU_WORDS = [
    "With Pharmacy",
    "With Pharmacy - Preparing Remainder",
    "Ready to Collect",
    "Ready to Collect - Partial",
    "Collected",
    "Dispatched",
    "Not Dispensed",
    "Ready to Dispatch",
    "Ready to Dispatch - Partial",
]


def test_the_concept_map_covers_every_psu_word() -> None:
    concept_map = definitions().read("ConceptMap", "psu-business-status-to-liaison-status")
    assert concept_map is not None
    mapped = [element["code"] for element in concept_map["group"][0]["element"]]
    assert sorted(mapped) == sorted(PSU_WORDS)
    # Keys are folded: PSU compares its words without regard to case.
    assert set(PSU_TO_STATUS) == {fold(word) for word in PSU_WORDS}


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("With Pharmacy", "prescription-issued"),
        ("Ready to Collect", "ready-to-collect"),
        ("Ready to Dispatch - Partial", "ready-to-collect"),
        ("Collected", "collected"),
        ("Dispatched", "collected"),
    ],
)
def test_a_pharmacy_task_lands_on_liaison_status_words(word: str, status: str) -> None:
    task = {
        "resourceType": "Task",
        "identifier": [{"system": systems.RECOMMENDATION_ID, "value": "rec-1"}],
        "status": "in-progress",
        "intent": "order",
        "businessStatus": {"coding": [{"system": systems.PSU_BUSINESS_STATUS, "code": word}]},
    }
    report = interpret_task(task)
    assert report is not None
    assert report.status == status


def test_not_dispensed_is_read_as_not_dispensed() -> None:
    task = {
        "resourceType": "Task",
        "identifier": [{"system": systems.RECOMMENDATION_ID, "value": "rec-1"}],
        "status": "completed",
        "intent": "order",
        "businessStatus": {
            "coding": [{"system": systems.PSU_BUSINESS_STATUS, "code": "Not Dispensed"}]
        },
    }
    report = interpret_task(task)
    assert report is not None
    assert report.status == "not-dispensed"


@pytest.mark.parametrize(
    ("system", "word", "status"),
    [
        (systems.PSU_BUSINESS_STATUS, "Ready to collect", "ready-to-collect"),
        (systems.PSU_BUSINESS_STATUS, "ready to collect", "ready-to-collect"),
        (systems.PSU_BUSINESS_STATUS, "  READY TO COLLECT ", "ready-to-collect"),
        (systems.PSU_BUSINESS_STATUS, "not  dispensed", "not-dispensed"),
        (systems.PSU_BUSINESS_STATUS, "with pharmacy - preparing remainder", "prescription-issued"),
        (systems.LIAISON_STATUS, "Ready-To-Collect", "ready-to-collect"),
        (systems.LIAISON_STATUS, " accepted ", "accepted"),
    ],
)
def test_status_words_are_read_whatever_their_case_and_surrounding_space(
    system: str, word: str, status: str
) -> None:
    task = {
        "resourceType": "Task",
        "identifier": [{"system": systems.RECOMMENDATION_ID, "value": "rec-1"}],
        "status": "in-progress",
        "intent": "order",
        "businessStatus": {"coding": [{"system": system, "code": word}]},
    }
    report = interpret_task(task)
    assert report is not None
    assert report.status == status


def test_gp_reported_words_are_in_the_business_status_value_set_with_their_display() -> None:
    allowed = expand(f"{systems.LIAISON_CANONICAL}/ValueSet/fulfilment-business-status")
    assert allowed is not None
    for word, shape in GP_REPORTED.items():
        assert (systems.LIAISON_STATUS, shape.business_status) in allowed
        assert display(systems.LIAISON_STATUS, word) == shape.display
    assert {(systems.PSU_BUSINESS_STATUS, w) for w in PSU_WORDS} <= allowed
