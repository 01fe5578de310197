"""/fhir: the CapabilityStatement and the search parameters it lists work as listed, searches
page to the end, FHIR-native intake enters the v1 pipeline, and errors name the element."""

import copy
import json
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fhir_profiles import systems
from fhir_profiles.canonical import with_canonical
from fhir_profiles.validation import resource_issues
from gateway.cli import sample_recommendation
from gateway.settings import Settings
from tests.gateway.conftest import row_counts
from tests.gateway.fhir_samples import APP_IDENTIFIER_SYSTEM, bearer, module_api, submission

Resource = dict[str, Any]
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    with module_api(tmp_path_factory.mktemp("fhir")) as running:
        yield running


@pytest.fixture
def api(served: tuple[TestClient, Settings]) -> TestClient:
    return served[0]


@pytest.fixture
def settings(served: tuple[TestClient, Settings]) -> Settings:
    return served[1]


def _v1(api: TestClient, **changes: Any) -> Resource:
    body = {**sample_recommendation("Y00001"), **changes}
    response = api.post("/v1/recommendations", json=body)
    assert response.status_code == 202, response.text
    accepted: Resource = response.json()
    return accepted


def _fhir(api: TestClient, path: str, **params: Any) -> Resource:
    # httpx replaces a URL's own query with `params`, even an empty one: a next link keeps its.
    response = api.get(path, params=params) if params else api.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: Resource = response.json()
    return body


def _outcome(response: Any) -> list[Resource]:
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert resource_issues(body) == []
    issues: list[Resource] = body["issue"]
    return issues


# --- CapabilityStatement -------------------------------------------------------------


def test_metadata_is_a_public_valid_r4_capability_statement(api: TestClient) -> None:
    response = TestClient(api.app).get("/fhir/metadata")  # no token
    assert response.status_code == 200
    statement = response.json()
    assert resource_issues(statement) == []
    assert statement["fhirVersion"] == "4.0.1"
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {i["code"] for i in by_type["MedicationRequest"]["interaction"]} == {
        "read",
        "vread",
        "history-instance",
        "search-type",
        "create",
    }
    assert {i["code"] for i in by_type["Task"]["interaction"]} == {
        "read",
        "vread",
        "history-instance",
        "search-type",
    }
    assert by_type["Task"]["readHistory"] is True
    assert systems.PROFILE_MEDICATION_REQUEST in by_type["MedicationRequest"]["supportedProfile"]
    assert set(by_type) >= {
        "Task",
        "DetectedIssue",
        "StructureDefinition",
        "CodeSystem",
        "ValueSet",
        "AuditEvent",
    }


def test_every_profile_the_statement_names_can_be_read(api: TestClient) -> None:
    statement = _fhir(api, "/fhir/metadata")
    for resource in statement["rest"][0]["resource"]:
        for url in resource.get("supportedProfile", []):
            found = _fhir(api, "/fhir/StructureDefinition", url=url)
            assert found["total"] == 1
            profile_id = found["entry"][0]["resource"]["id"]
            assert _fhir(api, f"/fhir/StructureDefinition/{profile_id}")["url"] == url


def _value_for(
    param: str, resource_type: str, resource: Resource, recommendation_id: str
) -> tuple[str, str]:
    if param == "_id":
        return "_id", resource["id"]
    if param == "_lastUpdated":
        return "_lastUpdated", "ge2000-01-01"
    if param == "identifier":
        if resource_type in ("StructureDefinition", "CodeSystem", "ValueSet", "ConceptMap"):
            raise AssertionError("no identifier search on definitions")
        return "identifier", f"{systems.RECOMMENDATION_ID}|{recommendation_id}"
    if param == "patient":
        return "patient:identifier", f"{systems.NHS_NUMBER}|9434765919"
    if param == "status":
        return "status", resource["status"]
    if param == "url":
        return "url", resource["url"]
    if param == "entity":
        return "entity", recommendation_id
    if param == "agent":
        return "agent", resource["agent"][0]["who"]["identifier"]["value"]
    if param == "date":
        return "date", "ge2000-01-01"
    raise AssertionError(f"the test has no value for {param}")


def test_every_search_parameter_the_statement_lists_works(api: TestClient) -> None:
    accepted = _v1(api)  # clozapine: all four stored types exist
    recommendation_id = accepted["id"]
    statement = _fhir(api, "/fhir/metadata")
    tried = 0
    for resource in statement["rest"][0]["resource"]:
        resource_type = resource["type"]
        if resource_type in accepted["links"]["fhir"]:
            example = api.get(accepted["links"]["fhir"][resource_type]).json()
        elif resource_type == "AuditEvent":  # the latest record about the recommendation
            found = _fhir(api, "/fhir/AuditEvent", entity=recommendation_id)
            example = found["entry"][0]["resource"]
        else:
            example = _fhir(api, f"/fhir/{resource_type}")["entry"][0]["resource"]
        for param in resource["searchParam"]:
            name, value = _value_for(param["name"], resource_type, example, recommendation_id)
            bundle = _fhir(api, f"/fhir/{resource_type}", **{name: value})
            assert bundle["type"] == "searchset"
            assert resource_issues(bundle) == []
            ids = [entry["resource"]["id"] for entry in bundle["entry"]]
            assert example["id"] in ids, (resource_type, name, value)
            tried += 1
    assert tried >= 20


# --- search --------------------------------------------------------------------------


def test_a_search_follows_next_links_to_the_end(api: TestClient) -> None:
    for _ in range(5):
        _v1(
            api,
            service_user={
                **sample_recommendation("Y00001")["service_user"],
                "nhs_number": "4010232137",
            },
        )
    url = "/fhir/Task"
    params: dict[str, Any] | None = {
        "patient:identifier": f"{systems.NHS_NUMBER}|4010232137",
        "_count": 2,
    }
    seen: list[str] = []
    pages = 0
    while url:
        bundle = _fhir(api, url, **(params or {}))
        assert resource_issues(bundle) == []
        assert bundle["total"] == 5
        assert len(bundle["entry"]) <= 2
        seen += [entry["resource"]["id"] for entry in bundle["entry"]]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url, params = (following[0], None) if following else ("", None)
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5


def test_identifier_finds_a_recommendations_resources_and_the_submitters_own(
    api: TestClient,
) -> None:
    created = api.post("/fhir/MedicationRequest", json=submission("P-ident")).json()
    recommendation_id = next(
        i["value"] for i in created["identifier"] if i["system"] == systems.RECOMMENDATION_ID
    )
    for resource_type in ("MedicationRequest", "CommunicationRequest", "Task", "DetectedIssue"):
        bundle = _fhir(
            api,
            f"/fhir/{resource_type}",
            identifier=f"{systems.RECOMMENDATION_ID}|{recommendation_id}",
        )
        assert bundle["total"] == 1, resource_type
    mine = _fhir(api, "/fhir/MedicationRequest", identifier=f"{APP_IDENTIFIER_SYSTEM}|P-ident")
    assert [e["resource"]["id"] for e in mine["entry"]] == [created["id"]]
    assert _fhir(api, "/fhir/MedicationRequest", identifier="P-ident")["total"] == 1
    assert _fhir(api, "/fhir/Task", identifier=f"{APP_IDENTIFIER_SYSTEM}|P-ident")["total"] == 0


def test_status_and_last_updated_narrow_a_search(api: TestClient) -> None:
    _v1(api)
    assert _fhir(api, "/fhir/Task", status="requested")["total"] >= 1
    assert _fhir(api, "/fhir/Task", status="completed")["total"] == 0
    assert _fhir(api, "/fhir/Task", _lastUpdated="gt2999-01-01")["total"] == 0
    both = _fhir(api, "/fhir/Task", _lastUpdated=["ge2000-01-01", "lt2999-01-01"])
    assert both["total"] >= 1
    assert _fhir(api, "/fhir/Task", _count=0)["entry"] == []


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({"colour": "blue"}, "colour"),
        ({"patient": "Patient/1"}, "patient"),
        ({"patient:identifier": "urn:other|1"}, "patient:identifier"),
        ({"_lastUpdated": "last tuesday"}, "_lastUpdated"),
        ({"_count": "lots"}, "_count"),
        ({"_cursor": "not-ours"}, "_cursor"),
    ],
)
def test_a_search_liaison_cannot_run_is_refused_naming_the_parameter(
    api: TestClient, params: dict[str, str], expression: str
) -> None:
    response = api.get("/fhir/Task", params=params)
    assert response.status_code == 400
    (issue,) = _outcome(response)
    assert issue["expression"] == [expression]


# --- tenancy and reads ---------------------------------------------------------------


def test_another_organisation_sees_nothing_and_a_practice_sees_what_it_was_sent(
    api: TestClient, settings: Settings
) -> None:
    accepted = _v1(api)
    task_url = accepted["links"]["fhir"]["Task"]
    other = bearer(settings, client_id="other-app", organisation_ods="RX9")
    assert api.get(task_url, headers=other).status_code == 404
    identifier = f"{systems.RECOMMENDATION_ID}|{accepted['id']}"
    other_search = api.get("/fhir/Task", params={"identifier": identifier}, headers=other)
    assert other_search.json()["total"] == 0
    practice = bearer(
        settings,
        client_id="gp-y00001",
        organisation_ods="Y00001",
        scopes=("fhir", "gp-practice"),
        kind="gp-practice",
        practice_ods="Y00001",
    )
    assert api.get(task_url, headers=practice).status_code == 200
    elsewhere = bearer(
        settings,
        client_id="gp-y00002",
        organisation_ods="Y00002",
        scopes=("fhir", "gp-practice"),
        kind="gp-practice",
        practice_ods="Y00002",
    )
    assert api.get(task_url, headers=elsewhere).status_code == 404


def test_reads_need_a_token_and_unknown_things_are_operation_outcomes(api: TestClient) -> None:
    anonymous = TestClient(api.app)
    assert anonymous.get("/fhir/Task/x").status_code == 401
    missing = api.get("/fhir/Task/no-such-task")
    assert missing.status_code == 404
    assert _outcome(missing)[0]["code"] == "not-found"
    unsupported = api.get("/fhir/Observation")
    assert unsupported.status_code == 404
    assert _outcome(unsupported)[0]["code"] == "not-supported"


def test_served_definitions_are_the_shipped_files(api: TestClient) -> None:
    folder = resources.files("fhir_profiles.definitions")
    for name in (
        "StructureDefinition-Liaison-MedicationRequest-Recommendation.json",
        "CodeSystem-medication-catalogue.json",
        "ValueSet-fulfilment-business-status.json",
        "ConceptMap-psu-business-status-to-liaison-status.json",
    ):
        shipped = json.loads(with_canonical((folder / name).read_text()))
        assert _fhir(api, f"/fhir/{shipped['resourceType']}/{shipped['id']}") == shipped


# --- FHIR-native intake ----------------------------------------------------------------


def test_a_valid_proposal_enters_the_v1_pipeline_and_is_answered_as_stored(
    api: TestClient,
) -> None:
    response = api.post(
        "/fhir/MedicationRequest",
        content=json.dumps(submission("P-new")),
        headers={"Content-Type": FHIR_JSON},
    )
    assert response.status_code == 201, response.text
    stored = response.json()
    assert resource_issues(stored) == []
    assert stored["meta"]["profile"] == [
        systems.PROFILE_MEDICATION_REQUEST,
        systems.UKCORE_MEDICATION_REQUEST,
    ]
    assert response.headers["Location"].endswith(
        f"/fhir/MedicationRequest/{stored['id']}/_history/1"
    )
    assert {"system": APP_IDENTIFIER_SYSTEM, "value": "P-new"} in stored["identifier"]
    # The service user is a Patient of their own; their contact details stay with Liaison.
    assert "contained" not in stored
    assert stored["subject"]["type"] == "Patient"
    recommendation_id = next(
        i["value"] for i in stored["identifier"] if i["system"] == systems.RECOMMENDATION_ID
    )
    shown = api.get(f"/v1/recommendations/{recommendation_id}").json()
    assert shown["status"] == "received"
    assert set(shown["fhir"]) == {
        "MedicationRequest",
        "CommunicationRequest",
        "Task",
        "DetectedIssue",
    }
    assert ("clinical-safety-flag", "care-team") in {
        (n["event"], n["recipient"]) for n in shown["notifications"]
    }


def test_the_same_proposal_again_is_the_same_recommendation(api: TestClient) -> None:
    first = api.post("/fhir/MedicationRequest", json=submission("P-twice"))
    before = row_counts(api)
    again = api.post("/fhir/MedicationRequest", json=submission("P-twice"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert row_counts(api) == before


def test_a_different_proposal_with_the_same_identifier_is_refused(api: TestClient) -> None:
    api.post("/fhir/MedicationRequest", json=submission("P-clash"))
    before = row_counts(api)
    changed = submission("P-clash", dosageInstruction=[{"text": "0.5 mg once daily"}])
    response = api.post("/fhir/MedicationRequest", json=changed)
    assert response.status_code == 409
    (issue,) = _outcome(response)
    assert (issue["code"], issue["expression"]) == ("duplicate", ["MedicationRequest.identifier"])
    assert row_counts(api) == before


def _remove_extension(url: str) -> Callable[[Resource], None]:
    def change(resource: Resource) -> None:
        resource["extension"] = [e for e in resource["extension"] if e["url"] != url]

    return change


def _set(path: str, value: Any) -> Callable[[Resource], None]:
    def change(resource: Resource) -> None:
        node: Any = resource
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value

    return change


_BAD_PROPOSALS: dict[str, tuple[Callable[[Resource], None], str]] = {
    "bad NHS number": (
        _set("subject.identifier.value", "9434765918"),
        "MedicationRequest.subject.identifier",
    ),
    "unknown product": (
        _set("medicationCodeableConcept.coding.0.code", "cigarettes"),
        "MedicationRequest.medicationCodeableConcept",
    ),
    "intent order": (_set("intent", "order"), "MedicationRequest.intent"),
    "missing consent": (
        _remove_extension(systems.EXT_CONSENT),
        f"MedicationRequest.extension('{systems.EXT_CONSENT}')",
    ),
    "consent refused": (
        _set("extension.0.extension.0.valueBoolean", False),
        "MedicationRequest.extension[0].extension[0].valueBoolean",
    ),
    "dose as a number": (
        _set("dosageInstruction.0.text", 12),
        "MedicationRequest.dosageInstruction[0].text",
    ),
    "date in words": (_set("authoredOn", "yesterday"), "MedicationRequest.authoredOn"),
    "unknown practice": (
        _set("contained.0.generalPractitioner.0.identifier.value", "Z99999"),
        "MedicationRequest.contained[0].generalPractitioner[0].identifier.value",
    ),
    "landline for texts": (
        _set("contained.0.telecom.0.value", "020 7946 0000"),
        "MedicationRequest.contained[0].telecom[0].value",
    ),
    "liaison's own identifier": (
        _set("identifier", [{"system": systems.RECOMMENDATION_ID, "value": "x"}]),
        "MedicationRequest.identifier[0].system",
    ),
    "not a MedicationRequest": (_set("resourceType", "Patient"), "resourceType"),
}


@pytest.mark.parametrize("case", sorted(_BAD_PROPOSALS))
def test_a_bad_proposal_is_refused_naming_the_path_and_nothing_is_stored(
    api: TestClient, case: str
) -> None:
    change, expression = _BAD_PROPOSALS[case]
    resource = submission(f"P-bad-{case}")
    change(resource)
    before = row_counts(api)
    response = api.post("/fhir/MedicationRequest", json=resource)
    assert 400 <= response.status_code < 500
    expressions = [e for issue in _outcome(response) for e in issue.get("expression", [])]
    assert expression in expressions, expressions
    assert row_counts(api) == before


def test_the_consent_time_needs_its_zone_through_both_intakes(api: TestClient) -> None:
    before = row_counts(api)
    resource = submission("P-consent-date")
    resource["extension"][0]["extension"][2]["valueDateTime"] = "2026-11-25"
    response = api.post("/fhir/MedicationRequest", json=resource)
    assert response.status_code == 422
    expected = (
        f"MedicationRequest.extension('{systems.EXT_CONSENT}')"
        ".extension('recordedAt').valueDateTime"
    )
    assert _outcome(response)[0]["expression"] == [expected]
    body = sample_recommendation("Y00001")
    body["consent"] = {**body["consent"], "recorded_at": "2026-11-25T10:00:00"}
    response = api.post("/v1/recommendations", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "consent.recorded_at"
    assert row_counts(api) == before


def test_a_body_that_is_not_a_json_object_is_refused(api: TestClient) -> None:
    before = row_counts(api)
    response = api.post("/fhir/MedicationRequest", json=[submission()])
    assert response.status_code == 422
    assert _outcome(response)[0]["expression"] == ["body"]
    assert row_counts(api) == before


def test_a_gp_practice_system_cannot_propose(api: TestClient, settings: Settings) -> None:
    practice = bearer(
        settings,
        client_id="gp-y00001",
        organisation_ods="Y00001",
        scopes=("fhir", "gp-practice"),
        kind="gp-practice",
        practice_ods="Y00001",
    )
    response = api.post("/fhir/MedicationRequest", json=submission("P-gp"), headers=practice)
    assert response.status_code == 403


def test_both_intakes_store_the_same_resources_for_the_same_facts(api: TestClient) -> None:
    v1 = _v1(api)
    fhir = api.post("/fhir/MedicationRequest", json=submission("P-same")).json()
    from_v1 = api.get(v1["links"]["fhir"]["MedicationRequest"]).json()

    def comparable(resource: Resource) -> Resource:
        kept = copy.deepcopy(resource)
        for key in ("id", "meta", "identifier", "authoredOn", "detectedIssue", "extension"):
            kept.pop(key, None)
        for party in ("subject", "requester"):  # ids derive from each intake's own request id
            kept.get(party, {}).pop("reference", None)
        kept.pop("text", None)
        return kept

    assert comparable(fhir) == comparable(from_v1)
