import json
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from fhir.resources.R4B.detectedissue import DetectedIssue
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
    detected_issue_id,
    gp_summary,
)
from fhir_profiles.catalogue import CATALOGUE
from fhir_profiles.imported_codes import ImportedCode, ImportedCodes
from fhir_profiles.r4_shape import r4_issues
from fhir_profiles.recommendation import (
    ConsentRecord,
    MedicationChoice,
    ProfessionalRegistration,
)
from fhir_profiles.task_status import interpret_task, task_fields_for
from fhir_profiles.validation import resource_issues, validate_all, validate_resource
from tests.fhir_profiles.factories import (
    CARE_TEAM,
    COMBINATIONS,
    CR_ID,
    MR_ID,
    SAFETY_CASES,
    TASK_ID,
    make_combination_facts,
    make_facts,
)

# --- the battery: every product, plan and safety case ----------------------------------

_CASES = sorted(SAFETY_CASES)
# Every product with every plan; the safety cases rotate through them, so each case meets
# several products and plans without building the full product x plan x case cube.
BATTERY = [
    (product, plan, _CASES[index % len(_CASES)])
    for index, (product, plan) in enumerate(
        (product, plan) for product in sorted(CATALOGUE) for plan in sorted(PLAN_LABELS)
    )
]


@pytest.mark.parametrize(("product_key", "plan", "case"), BATTERY)
def test_every_product_plan_and_safety_case_is_valid_r4_and_conforms(
    product_key: str, plan: str, case: str
) -> None:
    resources = build_resources(
        make_facts(product_key, plan, current_medications=SAFETY_CASES[case])
    )
    bundle = build_transaction_bundle(resources, delivery_id="dlv-1")
    # The bundle holds every emitted resource: this checks each against its Liaison profile
    # (read from definitions/*.json), the R4B models and base R4 itself.
    assert resource_issues(bundle) == []
    assert r4_issues(bundle) == []
    flagged = case not in ("none", "sertraline")
    assert (resources.detected_issue is not None) == flagged
    assert resources.medication_request["medicationCodeableConcept"]["text"] == (
        CATALOGUE[product_key].name
    )


def test_the_battery_covers_every_product_plan_and_safety_case() -> None:
    assert {item[0] for item in BATTERY} == set(CATALOGUE)
    assert {item[1] for item in BATTERY} == set(PLAN_LABELS)
    assert {item[2] for item in BATTERY} == set(SAFETY_CASES)


# Combination NRT: every combination with every plan, the safety cases rotating through.
COMBINATION_BATTERY = [
    (keys, plan, _CASES[index % len(_CASES)])
    for index, (keys, plan) in enumerate(
        (keys, plan) for keys in COMBINATIONS for plan in sorted(PLAN_LABELS)
    )
]


@pytest.mark.parametrize(("keys", "plan", "case"), COMBINATION_BATTERY)
def test_every_combination_is_valid_r4_and_conforms(
    keys: tuple[str, ...], plan: str, case: str
) -> None:
    resources = build_resources(
        make_combination_facts(keys, plan, current_medications=SAFETY_CASES[case])
    )
    bundle = build_transaction_bundle(resources, delivery_id="dlv-1")
    assert resource_issues(bundle) == []
    assert r4_issues(bundle) == []
    names = [r["medicationCodeableConcept"]["text"] for r in resources.medication_requests]
    assert names == [CATALOGUE[key].name for key in keys]


def test_the_combinations_cover_every_short_acting_form_the_catalogue_offers() -> None:
    forms = {CATALOGUE[key].form for keys in COMBINATIONS for key in keys[1:]}
    offered = {p.form for p in CATALOGUE.values() if p.kind == "nrt"} - {"transdermal patch"}
    assert forms == offered


# --- MedicationRequest -------------------------------------------------------------------


def test_the_medication_request_is_a_uk_core_proposal_for_the_recommended_medicine() -> None:
    mr = build_resources(make_facts()).medication_request
    assert mr["resourceType"] == "MedicationRequest"
    assert mr["id"] == MR_ID
    assert mr["meta"]["profile"] == [
        systems.PROFILE_MEDICATION_REQUEST,
        systems.UKCORE_MEDICATION_REQUEST,
    ]
    assert mr["text"]["status"] == "generated"
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
    patient_id = build_resources(make_facts()).patient["id"]  # type: ignore[index]
    assert mr["subject"] == {
        "reference": f"Patient/{patient_id}",
        "type": "Patient",
        "identifier": {"system": systems.NHS_NUMBER, "value": "9434765919"},
        "display": "Alex Morgan",
    }
    assert "contained" not in mr
    assert mr["requester"]["type"] == "Practitioner"
    assert mr["requester"]["identifier"] == {"system": systems.PRACTITIONER_ID, "value": "prac-42"}
    assert mr["authoredOn"] == "2025-01-15T09:30:00Z"
    assert mr["dosageInstruction"] == [{"text": "One tablet twice a day"}]
    assert mr["dispenseRequest"]["expectedSupplyDuration"] == {
        "value": 84,
        "unit": "days",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }
    assert mr["courseOfTherapyType"]["coding"][0]["code"] == "acute"
    assert mr["substitution"] == {"allowedBoolean": True}
    assert mr["note"][0] == {"text": "Started on the ward; keen to continue at home."}
    assert "detectedIssue" not in mr  # sertraline and metformin raise no flag


def test_the_service_user_is_a_uk_core_patient_with_a_verification_status_and_no_contacts() -> None:
    patient = build_resources(make_facts()).patient
    assert patient is not None
    assert patient["meta"]["profile"] == [systems.PROFILE_PATIENT, systems.UKCORE_PATIENT]
    [nhs] = patient["identifier"]
    assert (nhs["system"], nhs["value"]) == (systems.NHS_NUMBER, "9434765919")
    [status] = nhs["extension"]
    assert status["url"] == systems.UKCORE_EXT_NHS_NUMBER_VERIFICATION
    assert status["valueCodeableConcept"]["coding"][0]["code"] == "02"
    assert patient["name"] == [{"use": "official", "family": "Morgan", "given": ["Alex"]}]
    assert patient["birthDate"] == "1984-03-07"
    assert "telecom" not in patient
    assert patient["generalPractitioner"] == [
        {
            "type": "Organization",
            "identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": "A81001"},
        }
    ]


def test_the_practitioner_is_a_practitioner_and_role_with_sds_ids_and_registration() -> None:
    facts = make_facts()
    person = replace(
        facts.practitioner,
        sds_user_id="555021935107",
        sds_role_profile_id="555021936103",
        registration=ProfessionalRegistration("NMC", "12A3456B"),
    )
    resources = build_resources(replace(facts, practitioner=person))
    practitioner, role = resources.practitioner, resources.practitioner_role
    assert practitioner is not None
    assert role is not None
    assert {"system": systems.SDS_USER_ID, "value": "555021935107"} in practitioner["identifier"]
    nmc = {"system": "https://fhir.hl7.org.uk/Id/nmc-number", "value": "12A3456B"}
    assert nmc in practitioner["identifier"]
    assert practitioner["telecom"] == [
        {"system": "email", "value": "sam.patel@example.org", "use": "work"}
    ]
    assert role["identifier"] == [{"system": systems.SDS_ROLE_PROFILE_ID, "value": "555021936103"}]
    assert role["practitioner"]["reference"] == f"Practitioner/{practitioner['id']}"
    assert role["organization"]["identifier"]["value"] == "RX4"
    plain = build_resources(facts).practitioner_role
    assert plain is not None
    assert "identifier" not in plain


def _extension(resource: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension", []) if e["url"] == url]


def test_consent_plan_care_team_and_current_medicines_are_profile_extensions() -> None:
    mr = build_resources(make_facts(plan="reduce")).medication_request
    (consent,) = _extension(mr, systems.EXT_CONSENT)
    assert consent["extension"] == [
        {"url": "shareWithGP", "valueBoolean": True},
        {"url": "notifyServiceUser", "valueBoolean": True},
        {"url": "recordedAt", "valueDateTime": "2025-01-14T16:00:00Z"},
    ]
    assert _extension(mr, systems.EXT_CESSATION_PLAN) == [
        {"url": systems.EXT_CESSATION_PLAN, "valueCode": "reduce"}
    ]
    (care_team,) = _extension(mr, systems.EXT_CARE_TEAM_CONTACT)
    assert care_team["extension"][0] == {"url": "role", "valueCode": "psychiatrist"}
    assert care_team["extension"][1]["valueContactDetail"]["telecom"][0]["value"] == (
        "jo.okafor@example.nhs.uk"
    )
    medicines = _extension(mr, systems.EXT_CURRENT_MEDICATION)
    assert [m["valueCodeableConcept"]["text"] for m in medicines] == [
        "Sertraline 50mg daily",
        "Metformin 500mg twice daily",
    ]


def test_no_dmd_coding_without_an_imported_code() -> None:
    mr = build_resources(make_facts()).medication_request
    systems_used = {c["system"] for c in mr["medicationCodeableConcept"]["coding"]}
    assert systems.DMD not in systems_used


def test_an_imported_dm_d_code_is_sent_with_the_release_it_came_from() -> None:
    # A synthetic id standing for what a deployment's own dm+d release would hold.
    imported = ImportedCodes.of(
        [
            ImportedCode(
                "product",
                "varenicline-1mg-tablets",
                "990000011",
                "Varenicline 1mg tablets",
                "dm+d release TEST",
            )
        ]
    )
    mr = build_resources(make_facts(), imported=imported).medication_request
    assert mr["medicationCodeableConcept"]["coding"][0] == {
        "system": systems.DMD,
        "version": "dm+d release TEST",
        "code": "990000011",
        "display": "Varenicline 1mg tablets",
    }
    validate_resource(mr)


def test_duration_and_note_are_optional() -> None:
    facts = make_facts(medication=MedicationChoice("nicotine-2mg-gum", "As needed"), note=None)
    mr = build_resources(facts).medication_request
    assert "dispenseRequest" not in mr
    assert mr["note"] == [{"text": "Plan: quit"}]


def test_the_submitters_identifier_is_kept_on_the_medication_request() -> None:
    facts = make_facts(source_identifiers=(("https://app.example.org/id/proposal", "P-77"),))
    mr = build_resources(facts).medication_request
    assert {"system": "https://app.example.org/id/proposal", "value": "P-77"} in mr["identifier"]


# --- CommunicationRequest and Task --------------------------------------------------------


def test_the_communication_request_tells_the_practice_about_the_medication_request() -> None:
    cr = build_resources(make_facts()).communication_request
    assert cr["id"] == CR_ID
    assert cr["meta"]["profile"] == [systems.PROFILE_COMMUNICATION_REQUEST]
    assert cr["status"] == "active"
    assert "intent" not in cr
    mr_reference = {"reference": f"MedicationRequest/{MR_ID}", "type": "MedicationRequest"}
    assert cr["about"] == [mr_reference]
    assert cr["recipient"] == [
        {
            "type": "Organization",
            "identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": "A81001"},
        }
    ]
    assert cr["sender"]["identifier"] == {"system": systems.ODS_ORGANIZATION_CODE, "value": "RX4"}
    assert cr["payload"][0]["contentString"] == gp_summary(make_facts())
    assert cr["payload"][1] == {"contentReference": mr_reference}


def test_the_task_asks_the_practice_to_fulfil_the_request_routinely() -> None:
    task = build_resources(make_facts()).task
    assert task["id"] == TASK_ID
    assert (task["status"], task["intent"]) == ("requested", "order")
    assert task["code"]["coding"][0]["system"] == systems.TASK_CODE
    assert task["code"]["coding"][0]["code"] == "fulfill"
    assert task["focus"] == {"reference": f"MedicationRequest/{MR_ID}", "type": "MedicationRequest"}
    assert task["for"]["identifier"] == {"system": systems.NHS_NUMBER, "value": "9434765919"}
    assert task["owner"]["identifier"] == {
        "system": systems.ODS_ORGANIZATION_CODE,
        "value": "A81001",
    }
    assert task["priority"] == "routine"
    assert task["lastModified"] == task["authoredOn"]
    assert task["restriction"] == {"period": {"start": task["authoredOn"]}}
    assert "businessStatus" not in task


# --- clinical-safety flag -------------------------------------------------------------------


def test_clozapine_raises_a_detected_issue_linked_from_the_request() -> None:
    facts = make_facts(current_medications=("Clozapine 300mg daily", "Metformin 500mg"))
    resources = build_resources(facts)
    issue = resources.detected_issue
    assert issue is not None
    assert issue["id"] == detected_issue_id(facts)
    assert issue["meta"]["profile"] == [systems.PROFILE_DETECTED_ISSUE]
    assert issue["severity"] == "high"
    assert issue["code"]["coding"][0] == {
        "system": systems.V3_ACT_CODE,
        "code": "DRG",
        "display": "Drug Interaction Alert",
    }
    assert issue["implicated"] == [
        {"reference": f"MedicationRequest/{MR_ID}", "type": "MedicationRequest"},
        {"reference": "#medicine-1", "type": "Medication", "display": "Clozapine 300mg daily"},
    ]
    [medicine] = issue["contained"]
    assert medicine["code"] == {"text": "Clozapine 300mg daily"}  # no code known for it
    for advice in ("baseline clozapine level", "75 %", "hypersalivation", "7 days"):
        assert advice in issue["detail"]
    assert issue["reference"].startswith("https://www.sps.nhs.uk/")
    flag = {"reference": f"DetectedIssue/{issue['id']}", "type": "DetectedIssue"}
    assert resources.medication_request["detectedIssue"] == [flag]
    assert flag in resources.communication_request["about"]
    assert [r["resourceType"] for r in resources.all()][-1] == "DetectedIssue"


def test_the_gp_summary_starts_with_the_safety_flag_and_names_the_care_team() -> None:
    summary = gp_summary(make_facts(current_medications=("Clozaril 100mg",)))
    first = summary.splitlines()[0]
    assert first.startswith("CLINICAL SAFETY (high priority)")
    assert "Clozaril 100mg" in first
    assert summary.index("CLINICAL SAFETY") < summary.index("recommends Varenicline")
    assert f"{CARE_TEAM.name} ({CARE_TEAM.email})" in summary
    assert "sps.nhs.uk" in summary


def test_without_a_care_team_the_gp_is_asked_to_tell_whoever_manages_the_medicines() -> None:
    summary = gp_summary(make_facts(current_medications=("olanzapine",), care_team=None))
    assert summary.startswith("CLINICAL SAFETY (moderate priority)")
    assert "No care-team contact was given" in summary


def test_sertraline_alone_raises_no_flag_and_the_summary_says_none_was_recognised() -> None:
    facts = make_facts(current_medications=("Sertraline 50mg",))
    assert build_resources(facts).detected_issue is None
    summary = gp_summary(facts)
    assert not summary.startswith("CLINICAL SAFETY")
    assert "none was recognised" in summary


def test_varenicline_and_bupropion_summaries_cite_the_eagles_evidence() -> None:
    for key in ("varenicline-0.5mg-tablets", "bupropion-150mg-mr-tablets"):
        assert "EAGLES" in gp_summary(make_facts(key))
    assert "EAGLES" not in gp_summary(make_facts("nicotine-21mg-24h-patches"))


# --- GP summary -------------------------------------------------------------------------


def test_gp_summary_names_medicine_dose_and_current_medicines() -> None:
    summary = gp_summary(make_facts())
    for part in (
        "Varenicline 1mg tablets",
        "One tablet twice a day",
        "84 days",
        "Sertraline 50mg daily, Metformin 500mg twice daily",
        "Alex Morgan",
        "943 476 5919",
        "7 March 1984",
        "Sam Patel",
        "consented",
        "reject",
        "ask to see the patient",
        "keen to continue at home",
        "Plan: quit",
    ):
        assert part in summary


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


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_key", "model"),
    [
        ("medication_request", MedicationRequest),
        ("communication_request", CommunicationRequest),
        ("task", Task),
        ("detected_issue", DetectedIssue),
    ],
)
def test_output_round_trips_through_the_r4b_model(resource_key: str, model: Any) -> None:
    resource = getattr(
        build_resources(make_facts(current_medications=("clozapine",))), resource_key
    )
    assert model.model_validate(resource).model_dump(mode="json", exclude_none=True) == resource
    json.dumps(resource)  # JSON-ready: no datetimes, decimals or models left inside


def test_unknown_product_raises() -> None:
    with pytest.raises(UnknownProduct) as caught:
        build_resources(make_facts("cigarettes"))
    assert caught.value.key == "cigarettes"


def test_unknown_plan_raises() -> None:
    with pytest.raises(UnknownPlan):
        build_resources(make_facts(plan="vape"))


def test_naive_authored_on_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        build_resources(make_facts(authored_on=datetime(2025, 1, 15, 9, 30)))


def test_nothing_is_built_without_consent_to_share() -> None:
    with pytest.raises(ValueError, match="consent"):
        build_resources(make_facts(consent=None))
    naive = ConsentRecord(True, False, datetime(2025, 1, 14, 16, 0))
    with pytest.raises(ValueError, match="recorded_at"):
        build_resources(make_facts(consent=naive))


def test_resource_set_all_is_in_dependency_order() -> None:
    resources = build_resources(make_facts())
    assert [r["resourceType"] for r in resources.all()] == [
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "MedicationRequest",
        "CommunicationRequest",
        "Task",
    ]


# --- transaction bundle ----------------------------------------------------------------


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        if node.get("resourceType") == "DetectedIssue":
            node = {k: v for k, v in node.items() if k != "reference"}
        found = [v for k, v in node.items() if k == "reference" and isinstance(v, str)]
        return found + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for item in node for r in _references(item)]
    return []


def test_bundle_rewrites_references_to_full_urls_and_keeps_contained_ones() -> None:
    resources = build_resources(make_facts(current_medications=("clozapine",)))
    bundle = build_transaction_bundle(resources, delivery_id="dlv-7")
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert len(full_urls) == 7
    for reference in _references(bundle):
        assert reference in full_urls or reference == "#medicine-1"
    # DetectedIssue.reference is the authority for the advice (a uri, not a Reference).
    issue = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DetectedIssue"
    )
    assert issue["reference"].startswith("https://")
    assert "MedicationRequest/" not in json.dumps(bundle)
    assert "DetectedIssue/" not in json.dumps(bundle)


def test_bundle_entries_are_conditional_creates_with_the_delivery_id() -> None:
    bundle = build_transaction_bundle(build_resources(make_facts()), delivery_id="dlv-7")
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert "id" not in resource
        assert "versionId" not in resource.get("meta", {})
        assert {"system": systems.DELIVERY_ID, "value": "dlv-7"} in resource["identifier"]
        if resource["resourceType"] not in ("Patient", "Practitioner", "PractitionerRole"):
            recommendation = {"system": systems.RECOMMENDATION_ID, "value": "rec-0001"}
            assert recommendation in resource["identifier"]
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
    assert build_transaction_bundle(resources, delivery_id="dlv-8") != first


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
    assert entry["resource"]["meta"] == resources.medication_request["meta"]
    delivery_ids = [
        i["value"] for i in entry["resource"]["identifier"] if i["system"] == systems.DELIVERY_ID
    ]
    assert delivery_ids == ["dlv-new"]


def test_non_uuid_ids_still_get_stable_urn_uuids() -> None:
    facts = make_facts(medication_request_id="mr-1", communication_request_id="cr-1", task_id="t-1")
    first = build_transaction_bundle(build_resources(facts), delivery_id="d")
    assert first == build_transaction_bundle(build_resources(facts), delivery_id="d")
    for entry in first["entry"]:
        uuid.UUID(entry["fullUrl"].removeprefix("urn:uuid:"))


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
    assert (report.recommendation_id, report.status, report.pharmacy) == (
        "rec-0001",
        "ready-to-collect",
        "X",
    )


def test_built_task_without_update_reports_nothing() -> None:
    assert interpret_task(build_resources(make_facts()).task) is None


def test_validate_all_accepts_a_whole_set() -> None:
    validate_all(build_resources(make_facts(current_medications=("clozapine",))).all())
