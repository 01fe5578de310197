import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.task import Task

from fhir_profiles import systems
from fhir_profiles.builders import (
    PLAN_LABELS,
    ResourceSet,
    UnknownPlan,
    UnknownProduct,
    build_resources,
    build_transaction_bundle,
    gp_summary,
)
from fhir_profiles.catalogue import CATALOGUE
from fhir_profiles.recommendation import (
    MedicationChoice,
    Practitioner,
    RecommendationFacts,
    ServiceUser,
)
from fhir_profiles.task_status import interpret_task, task_fields_for
from fhir_profiles.validation import validate_all, validate_resource

MR_ID = "5f0c7d52-4a0e-4c8e-9a43-6b3f1d2e7a01"
CR_ID = "5f0c7d52-4a0e-4c8e-9a43-6b3f1d2e7a02"
TASK_ID = "5f0c7d52-4a0e-4c8e-9a43-6b3f1d2e7a03"


def make_facts(
    product: str = "varenicline-1mg-tablets", plan: str = "quit", **changes: Any
) -> RecommendationFacts:
    facts = RecommendationFacts(
        recommendation_id="rec-0001",
        service_user=ServiceUser("9434765919", "Alex", "Morgan", date(1984, 3, 7)),
        practitioner=Practitioner("prac-42", "Sam Patel", "sam.patel@example.org", "RX4"),
        gp_ods_code="A81001",
        medication=MedicationChoice(product, "One tablet twice a day", 84),
        plan=plan,
        authored_on=datetime(2025, 1, 15, 9, 30, tzinfo=UTC),
        medication_request_id=MR_ID,
        communication_request_id=CR_ID,
        task_id=TASK_ID,
        current_medications=("Clozapine 300mg daily", "Metformin 500mg twice daily"),
        note="Started on the ward; keen to continue at home.",
    )
    return dataclasses.replace(facts, **changes)


@pytest.mark.parametrize("plan", sorted(PLAN_LABELS))
@pytest.mark.parametrize("product_key", sorted(CATALOGUE))
def test_every_product_and_plan_builds_valid_resources(product_key: str, plan: str) -> None:
    resources = build_resources(make_facts(product_key, plan))
    validate_all(resources.all())
    medication_request = resources.medication_request
    product = CATALOGUE[product_key]
    assert medication_request["medicationCodeableConcept"]["text"] == product.name
    assert {"text": f"Plan: {PLAN_LABELS[plan]}"} in medication_request["note"]
    bundle = build_transaction_bundle(resources, delivery_id="dlv-1")
    validate_resource(bundle)


def test_medication_request_shape() -> None:
    mr = build_resources(make_facts()).medication_request
    assert mr["resourceType"] == "MedicationRequest"
    assert mr["id"] == MR_ID
    assert mr["meta"]["profile"] == [systems.PROFILE_MEDICATION_REQUEST]
    assert mr["identifier"] == [{"system": systems.RECOMMENDATION_ID, "value": "rec-0001"}]
    assert (mr["status"], mr["intent"]) == ("active", "proposal")
    assert mr["category"][0]["coding"][0]["code"] == "community"
    assert mr["reasonCode"][0]["coding"] == [
        {
            "system": systems.SNOMED_CT,
            "code": systems.SCT_SMOKING_CESSATION_THERAPY,
            "display": "Smoking cessation therapy",
        }
    ]
    assert mr["medicationCodeableConcept"]["coding"] == [
        {
            "system": systems.MEDICATION_CATALOGUE,
            "code": "varenicline-1mg-tablets",
            "display": "Varenicline 1mg tablets",
        }
    ]
    assert mr["subject"] == {
        "identifier": {"system": systems.NHS_NUMBER, "value": "9434765919"},
        "display": "Alex Morgan",
    }
    assert mr["requester"]["identifier"] == {"system": systems.PRACTITIONER_ID, "value": "prac-42"}
    assert mr["authoredOn"] == "2025-01-15T09:30:00Z"
    assert mr["dosageInstruction"] == [{"text": "One tablet twice a day"}]
    assert mr["dispenseRequest"]["expectedSupplyDuration"] == {
        "value": 84,
        "unit": "days",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }
    assert mr["substitution"] == {"allowedBoolean": True}
    assert mr["note"][0] == {"text": "Started on the ward; keen to continue at home."}


def test_no_dmd_coding_when_the_catalogue_has_no_code() -> None:
    mr = build_resources(make_facts()).medication_request
    systems_used = {c["system"] for c in mr["medicationCodeableConcept"]["coding"]}
    assert systems.DMD not in systems_used


def test_duration_and_note_are_optional() -> None:
    facts = make_facts(medication=MedicationChoice("nicotine-2mg-gum", "As needed"), note=None)
    mr = build_resources(facts).medication_request
    assert "dispenseRequest" not in mr
    assert mr["note"] == [{"text": "Plan: quit"}]


def test_communication_request_shape() -> None:
    cr = build_resources(make_facts()).communication_request
    assert cr["id"] == CR_ID
    assert cr["meta"]["profile"] == [systems.PROFILE_COMMUNICATION_REQUEST]
    assert cr["status"] == "active"
    assert "intent" not in cr
    assert cr["about"] == [{"reference": f"MedicationRequest/{MR_ID}"}]
    assert cr["recipient"] == [
        {"identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": "A81001"}}
    ]
    assert cr["sender"] == {"identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": "RX4"}}
    assert cr["payload"][0]["contentString"] == gp_summary(make_facts())
    assert cr["payload"][1] == {"contentReference": {"reference": f"MedicationRequest/{MR_ID}"}}


def test_task_shape() -> None:
    task = build_resources(make_facts()).task
    assert task["id"] == TASK_ID
    assert (task["status"], task["intent"]) == ("requested", "order")
    assert task["code"]["coding"][0]["system"] == systems.TASK_CODE
    assert task["code"]["coding"][0]["code"] == "fulfill"
    assert task["focus"] == {"reference": f"MedicationRequest/{MR_ID}"}
    assert task["for"]["identifier"] == {"system": systems.NHS_NUMBER, "value": "9434765919"}
    assert task["owner"] == {
        "identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": "A81001"}
    }
    assert "businessStatus" not in task


@pytest.mark.parametrize(
    ("resource_key", "model"),
    [
        ("medication_request", MedicationRequest),
        ("communication_request", CommunicationRequest),
        ("task", Task),
    ],
)
def test_output_round_trips_through_the_r4b_model(resource_key: str, model: Any) -> None:
    resource = getattr(build_resources(make_facts()), resource_key)
    assert model.model_validate(resource).model_dump(mode="json", exclude_none=True) == resource
    json.dumps(resource)  # JSON-ready: no datetimes, decimals or models left inside


def test_unknown_product_raises() -> None:
    with pytest.raises(UnknownProduct) as caught:
        build_resources(make_facts("cigarettes"))
    assert caught.value.key == "cigarettes"
    assert isinstance(caught.value, ValueError)


def test_unknown_plan_raises() -> None:
    with pytest.raises(UnknownPlan):
        build_resources(make_facts(plan="vape"))


def test_naive_authored_on_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        build_resources(make_facts(authored_on=datetime(2025, 1, 15, 9, 30)))


def test_resource_set_all_is_in_dependency_order() -> None:
    resources = build_resources(make_facts())
    assert [r["resourceType"] for r in resources.all()] == [
        "MedicationRequest",
        "CommunicationRequest",
        "Task",
    ]


# --- GP summary ------------------------------------------------------------------------


def test_gp_summary_names_medicine_dose_and_current_medicines() -> None:
    summary = gp_summary(make_facts())
    assert "Varenicline 1mg tablets" in summary
    assert "One tablet twice a day" in summary
    assert "84 days" in summary
    assert "Clozapine 300mg daily, Metformin 500mg twice daily" in summary
    assert "Alex Morgan" in summary
    assert "943 476 5919" in summary
    assert "7 March 1984" in summary
    assert "Sam Patel" in summary
    assert "consented" in summary
    assert "reject" in summary
    assert "ask to see the patient" in summary
    assert "keen to continue at home" in summary
    assert "Plan: quit" in summary


def test_gp_summary_without_current_medicines_or_duration() -> None:
    facts = make_facts(
        medication=MedicationChoice("nicotine-21mg-24h-patches", "One patch a day"),
        current_medications=(),
        note=None,
        plan="temporary-abstinence",
    )
    summary = gp_summary(facts)
    assert "Current medicines: none recorded" in summary
    assert "Duration: not specified" in summary
    assert "temporary abstinence" in summary
    assert "Note from the practitioner" not in summary


# --- transaction bundle ----------------------------------------------------------------


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "reference" and isinstance(v, str)]
        return found + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for item in node for r in _references(item)]
    return []


def test_bundle_rewrites_references_to_full_urls() -> None:
    bundle = build_transaction_bundle(build_resources(make_facts()), delivery_id="dlv-7")
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert full_urls == {f"urn:uuid:{MR_ID}", f"urn:uuid:{CR_ID}", f"urn:uuid:{TASK_ID}"}
    references = _references(bundle)
    assert references, "the bundle should carry internal references"
    for reference in references:
        assert reference.startswith("urn:uuid:")
        assert reference in full_urls
    assert "MedicationRequest/" not in json.dumps(bundle)


def test_bundle_entries_are_conditional_creates_with_the_delivery_id() -> None:
    bundle = build_transaction_bundle(build_resources(make_facts()), delivery_id="dlv-7")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert "id" not in resource
        assert "versionId" not in resource.get("meta", {})
        assert {"system": systems.DELIVERY_ID, "value": "dlv-7"} in resource["identifier"]
        assert {"system": systems.RECOMMENDATION_ID, "value": "rec-0001"} in resource["identifier"]
        assert entry["request"] == {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": f"identifier={systems.DELIVERY_ID}|dlv-7",
        }


def test_bundle_is_deterministic_and_leaves_its_input_alone() -> None:
    resources = build_resources(make_facts())
    before = json.dumps(resources.all(), sort_keys=True)
    first = build_transaction_bundle(resources, delivery_id="dlv-7")
    second = build_transaction_bundle(build_resources(make_facts()), delivery_id="dlv-7")
    assert json.dumps(first) == json.dumps(second)
    assert json.dumps(resources.all(), sort_keys=True) == before
    other = build_transaction_bundle(resources, delivery_id="dlv-8")
    assert other != first


def test_bundle_drops_server_assigned_meta_and_old_delivery_ids() -> None:
    resources = build_resources(make_facts())
    stored = ResourceSet(
        medication_request={
            **resources.medication_request,
            "meta": {**resources.medication_request["meta"], "versionId": "3"},
            "identifier": [
                *resources.medication_request["identifier"],
                {"system": systems.DELIVERY_ID, "value": "dlv-old"},
            ],
        },
        communication_request=resources.communication_request,
        task=resources.task,
    )
    entry = build_transaction_bundle(stored, delivery_id="dlv-new")["entry"][0]
    assert entry["resource"]["meta"] == {"profile": [systems.PROFILE_MEDICATION_REQUEST]}
    delivery_ids = [
        i["value"] for i in entry["resource"]["identifier"] if i["system"] == systems.DELIVERY_ID
    ]
    assert delivery_ids == ["dlv-new"]


def test_non_uuid_ids_still_get_stable_urn_uuids() -> None:
    facts = make_facts(medication_request_id="mr-1", communication_request_id="cr-1", task_id="t-1")
    first = build_transaction_bundle(build_resources(facts), delivery_id="d")
    second = build_transaction_bundle(build_resources(facts), delivery_id="d")
    assert first == second
    for entry in first["entry"]:
        uuid.UUID(entry["fullUrl"].removeprefix("urn:uuid:"))
    assert set(_references(first)) <= {entry["fullUrl"] for entry in first["entry"]}


@pytest.mark.parametrize("delivery_id", ["", "has space", "a&b", "a|b", "x" * 65])
def test_bundle_refuses_unsafe_delivery_ids(delivery_id: str) -> None:
    with pytest.raises(ValueError, match="delivery_id"):
        build_transaction_bundle(build_resources(make_facts()), delivery_id=delivery_id)


# --- round trip with task_status -------------------------------------------------------


def test_built_task_reports_ready_to_collect_after_gp_update() -> None:
    task = build_resources(make_facts()).task
    updated = {**task, **task_fields_for("ready-to-collect", pharmacy="X")}
    validate_resource(updated)
    report = interpret_task(updated)
    assert report is not None
    assert report.recommendation_id == "rec-0001"
    assert report.status == "ready-to-collect"
    assert report.pharmacy == "X"


def test_built_task_without_update_reports_nothing() -> None:
    assert interpret_task(build_resources(make_facts()).task) is None


# --- R4B is a stand-in for R4 ----------------------------------------------------------

# Element names of the base R4 (4.0.1) resources, from hl7.org/fhir/R4/<type>.html.
_R4_ELEMENTS = {
    MedicationRequest: {
        "identifier", "status", "statusReason", "intent", "category", "priority",
        "doNotPerform", "reportedBoolean", "reportedReference", "medicationCodeableConcept",
        "medicationReference", "subject", "encounter", "supportingInformation", "authoredOn",
        "requester", "performer", "performerType", "recorder", "reasonCode", "reasonReference",
        "instantiatesCanonical", "instantiatesUri", "basedOn", "groupIdentifier",
        "courseOfTherapyType", "insurance", "note", "dosageInstruction", "dispenseRequest",
        "substitution", "priorPrescription", "detectedIssue", "eventHistory",
    },
    CommunicationRequest: {
        "identifier", "basedOn", "replaces", "groupIdentifier", "status", "statusReason",
        "category", "priority", "doNotPerform", "medium", "subject", "about", "encounter",
        "payload", "occurrenceDateTime", "occurrencePeriod", "authoredOn", "requester",
        "recipient", "sender", "reasonCode", "reasonReference", "note",
    },
    Task: {
        "identifier", "instantiatesCanonical", "instantiatesUri", "basedOn", "groupIdentifier",
        "partOf", "status", "statusReason", "businessStatus", "intent", "priority", "code",
        "description", "focus", "for", "encounter", "executionPeriod", "authoredOn",
        "lastModified", "requester", "performerType", "owner", "location", "reasonCode",
        "reasonReference", "insurance", "note", "relevantHistory", "restriction", "input",
        "output",
    },
}  # fmt: skip
_RESOURCE_BASE = {
    "id", "meta", "implicitRules", "language", "text", "contained", "extension",
    "modifierExtension",
}  # fmt: skip


@pytest.mark.parametrize("model", list(_R4_ELEMENTS), ids=lambda m: m.__name__)
def test_r4b_model_has_exactly_the_r4_elements(model: Any) -> None:
    names = {
        field.alias or name
        for name, field in model.model_fields.items()
        if not (field.alias or name).startswith("_")
        and name not in {"resource_type", "fhir_comments"}
    }
    assert names - _RESOURCE_BASE == _R4_ELEMENTS[model]
