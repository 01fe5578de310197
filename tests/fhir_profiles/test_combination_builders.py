"""Combination NRT: one request, one MedicationRequest per medicine in one
group, one Task and one CommunicationRequest, and every text the practice reads names every
medicine."""

import random
from typing import Any

import pytest

from fhir_profiles import systems
from fhir_profiles.builders import (
    build_resources,
    build_transaction_bundle,
    gp_summary,
    resource_set_of,
)
from fhir_profiles.catalogue import CATALOGUE
from fhir_profiles.recommendation import MedicationChoice
from fhir_profiles.send_document.request_facts import read_request
from tests.fhir_profiles.factories import (
    MR_ID,
    PATCH_DOSE,
    SAFETY_CASES,
    TASK_ID,
    make_combination_facts,
    make_facts,
)

PATCH, GUM, SPRAY = "nicotine-21mg-24h-patches", "nicotine-2mg-gum", "nicotine-1mg-mouth-spray"
NAMES = [CATALOGUE[key].name for key in (PATCH, GUM, SPRAY)]
GROUP = {"system": systems.RECOMMENDATION_ID, "value": "rec-0001"}


def _three(**changes: Any) -> Any:
    return build_resources(make_combination_facts((PATCH, GUM, SPRAY), **changes))


def _div(resource: dict[str, Any]) -> str:
    return str(resource["text"]["div"])


def test_each_medicine_is_its_own_medication_request_in_one_group() -> None:
    resources = _three()
    requests = resources.medication_requests
    assert [r["medicationCodeableConcept"]["text"] for r in requests] == NAMES
    assert requests[0]["id"] == MR_ID
    assert len({r["id"] for r in requests}) == 3
    assert [r["groupIdentifier"] for r in requests] == [GROUP] * 3
    assert [r["dosageInstruction"][0]["text"] for r in requests] == [
        PATCH_DOSE,
        f"One dose of {GUM} when the urge comes",
        f"One dose of {SPRAY} when the urge comes",
    ]
    # Each has its own supply: the patch's packs, the last form's missing duration.
    assert requests[0]["dispenseRequest"]["quantity"] == {"value": 4, "unit": "pack"}
    assert "dispenseRequest" not in requests[2]
    # All still carry the recommendation's identifier, and each its own.
    for request in requests:
        assert GROUP in request["identifier"]
        own = {"system": systems.MEDICATION_REQUEST_ID, "value": request["id"]}
        assert own in request["identifier"]


def test_one_task_focuses_on_the_first_medicine_and_joins_the_group() -> None:
    resources = _three()
    assert resources.task["id"] == TASK_ID
    assert resources.task["focus"] == {
        "reference": f"MedicationRequest/{MR_ID}",
        "type": "MedicationRequest",
    }
    assert resources.task["groupIdentifier"] == GROUP
    assert [r["resourceType"] for r in resources.all()].count("Task") == 1


def test_the_communication_request_is_about_every_medicine_in_order() -> None:
    resources = _three()
    communication = resources.communication_request
    ids = [f"MedicationRequest/{r['id']}" for r in resources.medication_requests]
    assert [ref["reference"] for ref in communication["about"]] == ids
    references = [p["contentReference"]["reference"] for p in communication["payload"][1:]]
    assert references == ids
    assert communication["groupIdentifier"] == GROUP


def test_every_narrative_and_the_gp_summary_name_every_medicine() -> None:
    facts = make_combination_facts((PATCH, GUM, SPRAY))
    resources = build_resources(facts)
    for name in NAMES:
        assert name in _div(resources.task)
        for request in resources.medication_requests:
            assert name in _div(request)
    summary = gp_summary(facts)
    assert f"recommends {NAMES[0]}, {NAMES[1]} and {NAMES[2]} for Alex Morgan" in summary
    assert f"- {NAMES[0]}. Dose: {PATCH_DOSE}. Duration: 56 days" in summary
    assert f"- {NAMES[2]}. Dose: One dose of {SPRAY} when the urge comes. Duration: not" in summary
    assert resources.communication_request["payload"][0]["contentString"] == summary


def test_a_safety_flag_implicates_every_medicine_and_each_points_at_it() -> None:
    resources = _three(current_medications=SAFETY_CASES["clozapine"])
    issue = resources.detected_issue
    assert issue is not None
    implicated = [r["reference"] for r in issue["implicated"] if r["type"] == "MedicationRequest"]
    assert implicated == [f"MedicationRequest/{r['id']}" for r in resources.medication_requests]
    for request in resources.medication_requests:
        assert request["detectedIssue"] == [
            {"reference": f"DetectedIssue/{issue['id']}", "type": "DetectedIssue"}
        ]


def test_a_single_medicine_has_no_group_and_no_extra_identifier() -> None:
    resources = build_resources(make_facts())
    assert resources.additional_medication_requests == ()
    assert "groupIdentifier" not in resources.medication_request
    assert "groupIdentifier" not in resources.task
    assert "groupIdentifier" not in resources.communication_request


def test_ids_are_stable_when_rebuilt() -> None:
    first = [r["id"] for r in _three().medication_requests]
    assert [r["id"] for r in _three().medication_requests] == first


@pytest.mark.parametrize(
    "others",
    [
        (MedicationChoice("nicotine-7mg-24h-patches", "One patch a day"),),
        (MedicationChoice("bupropion-150mg-mr-tablets", "One tablet a day"),),
        (MedicationChoice(PATCH, "One patch a day"),),
    ],
)
def test_the_builders_refuse_a_combination_outside_ng209(
    others: tuple[MedicationChoice, ...],
) -> None:
    facts = make_facts(PATCH, additional_medications=others)
    with pytest.raises(ValueError, match="cannot be recommended together"):
        build_resources(facts)


def test_each_medicine_is_its_own_conditional_create_in_the_delivery() -> None:
    resources = _three()
    bundle = build_transaction_bundle(resources, delivery_id="dlv-7")
    entries = [e for e in bundle["entry"] if e["request"]["url"] == "MedicationRequest"]
    assert len(entries) == 3
    queries = [e["request"]["ifNoneExist"] for e in entries]
    assert len(set(queries)) == 3  # else a server takes the gum for the patch and drops it
    for entry, request in zip(entries, resources.medication_requests, strict=True):
        delivery = {"system": systems.DELIVERY_ID, "value": "dlv-7"}
        assert delivery in entry["resource"]["identifier"]  # a withdrawal cancels them all
        assert entry["request"]["ifNoneExist"] == (
            f"identifier={systems.DELIVERY_ID}|dlv-7"
            f"&identifier={systems.MEDICATION_REQUEST_ID}|{request['id']}"
        )
    task = next(e for e in bundle["entry"] if e["request"]["url"] == "Task")
    assert task["resource"]["focus"]["reference"] == entries[0]["fullUrl"]


def test_the_letter_reads_every_medicine_from_the_delivery() -> None:
    bundle = build_transaction_bundle(_three(), delivery_id="dlv-7")
    medicines = read_request(bundle).medicines
    assert [m.name for m in medicines] == NAMES
    assert medicines[0].dose == PATCH_DOSE


def test_a_stored_set_is_read_back_in_the_order_built() -> None:
    resources = _three(current_medications=SAFETY_CASES["clozapine"])
    stored = resources.all()
    random.Random(7).shuffle(stored)
    assert resource_set_of(stored) == resources
    assert resource_set_of(build_resources(make_facts()).all()) == build_resources(make_facts())
