"""Liaison's own Task tracks fulfilment: every status change is a new version of the stored
Task (and of the MedicationRequest when the proposal is over), served by read, vread and
history (FHIR R4 RESTful API), each version valid against Liaison's profiles."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient

from fhir_profiles import systems
from fhir_profiles.validation import resource_issues
from gateway.cli import sample_recommendation
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.fhir_samples import bearer, module_api, submission

Resource = dict[str, Any]
FHIR_JSON = "application/fhir+json"

# Liaison status word -> (Task.status, MedicationRequest.status) once there.
TO_COLLECTION = (
    ("queued", "requested", "active"),
    ("delivered", "received", "active"),
    ("accepted", "accepted", "active"),
    ("appointment-needed", "on-hold", "active"),
    ("prescription-issued", "in-progress", "active"),
    ("ready-to-collect", "in-progress", "active"),
    ("collected", "completed", "completed"),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    with module_api(tmp_path_factory.mktemp("fulfilment")) as running:
        yield running


@pytest.fixture
def api(served: tuple[TestClient, Settings]) -> TestClient:
    return served[0]


def _submit(api: TestClient) -> tuple[str, dict[str, str]]:
    response = api.post("/v1/recommendations", json=sample_recommendation("Y00001"))
    assert response.status_code == 202, response.text
    accepted = response.json()
    paths = {kind: url.split("/fhir/", 1)[1] for kind, url in accepted["links"]["fhir"].items()}
    return str(accepted["id"]), paths


def _apply(api: TestClient, rec_id: str, status: str, **extra: str) -> None:
    factory = api.app.state.session_factory  # type: ignore[attr-defined]
    with UnitOfWork(factory) as uow:
        applied = apply_status(
            uow, StatusChange(rec_id, status, source="poll", **extra), now=datetime.now(UTC)
        )
        uow.commit()
    assert applied, status


def _get(api: TestClient, path: str, **params: str) -> tuple[Resource, str | None]:
    response = api.get(f"/fhir/{path}", params=params) if params else api.get(f"/fhir/{path}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: Resource = response.json()
    return body, response.headers.get("ETag")


def _business(task: Resource) -> str:
    [coding] = task["businessStatus"]["coding"]
    assert coding["system"] == systems.LIAISON_STATUS
    return str(coding["code"])


def test_the_task_and_medication_request_follow_the_recommendation_to_collection(
    api: TestClient,
) -> None:
    # A frozen clock moved a minute per step (within the token's lifetime).
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        rec_id, paths = _submit(api)
        first, etag = _get(api, paths["Task"])
        assert (first["status"], first["meta"]["versionId"], etag) == ("requested", "1", 'W/"1"')
        for number, (word, task_status, mr_status) in enumerate(TO_COLLECTION, start=2):
            traveller.shift(timedelta(minutes=1))
            _apply(api, rec_id, word, pharmacy="Boots, 1 High Street")
            task, etag = _get(api, paths["Task"])
            assert task["status"] == task_status, word
            assert _business(task) == word
            assert task["meta"]["versionId"] == str(number)
            assert etag == f'W/"{number}"'
            moment = datetime.now(UTC)
            assert datetime.fromisoformat(task["meta"]["lastUpdated"]) == moment
            assert datetime.fromisoformat(task["lastModified"]) == moment
            assert resource_issues(task) == []
            medication_request, _ = _get(api, paths["MedicationRequest"])
            assert medication_request["status"] == mr_status, word

    assert task["output"][0]["valueString"] == "Boots, 1 High Street"
    medication_request, etag = _get(api, paths["MedicationRequest"])
    # The proposal changed once, when it was fulfilled.
    assert (medication_request["meta"]["versionId"], etag) == ("2", 'W/"2"')
    assert resource_issues(medication_request) == []


def test_history_shows_every_version_newest_first_and_vread_serves_each(api: TestClient) -> None:
    rec_id, paths = _submit(api)
    for word, _, _ in TO_COLLECTION:
        _apply(api, rec_id, word)
    history, _ = _get(api, f"{paths['Task']}/_history")
    assert history["resourceType"] == "Bundle"
    assert history["type"] == "history"
    assert history["total"] == len(TO_COLLECTION) + 1
    assert resource_issues(history) == []
    versions = [e["resource"]["meta"]["versionId"] for e in history["entry"]]
    assert versions == [str(n) for n in range(len(TO_COLLECTION) + 1, 0, -1)]
    statuses = [e["resource"]["status"] for e in reversed(history["entry"])]
    assert statuses == ["requested"] + [task_status for _, task_status, _ in TO_COLLECTION]
    assert [_business(e["resource"]) for e in history["entry"][:-1]][::-1] == [
        word for word, _, _ in TO_COLLECTION
    ]
    oldest, newest = history["entry"][-1], history["entry"][0]
    assert (oldest["request"]["method"], oldest["response"]["status"]) == ("POST", "201 Created")
    assert (newest["request"]["method"], newest["request"]["url"]) == ("PUT", paths["Task"])
    for entry in history["entry"]:
        version = entry["resource"]["meta"]["versionId"]
        as_it_was, etag = _get(api, f"{paths['Task']}/_history/{version}")
        assert as_it_was == entry["resource"]
        assert etag == f'W/"{version}"'

    mr_history, _ = _get(api, f"{paths['MedicationRequest']}/_history")
    assert [e["resource"]["status"] for e in mr_history["entry"]] == ["completed", "active"]
    assert resource_issues(mr_history) == []


def test_a_cancelled_recommendation_cancels_its_task_and_medication_request(
    api: TestClient,
) -> None:
    rec_id, paths = _submit(api)
    _apply(api, rec_id, "delivered")
    assert api.post(f"/v1/recommendations/{rec_id}/cancel").status_code == 200
    task, etag = _get(api, paths["Task"])
    assert (task["status"], _business(task), etag) == ("cancelled", "cancelled", 'W/"3"')
    assert task["statusReason"]["text"] == "Cancelled by the practitioner"
    medication_request, etag = _get(api, paths["MedicationRequest"])
    assert (medication_request["status"], etag) == ("cancelled", 'W/"2"')
    history, _ = _get(api, f"{paths['MedicationRequest']}/_history")
    assert [e["resource"]["status"] for e in history["entry"]] == ["cancelled", "active"]
    assert resource_issues(task) == []
    assert resource_issues(medication_request) == []


def test_a_rejection_carries_the_practices_reason_and_ends_the_proposal(api: TestClient) -> None:
    rec_id, paths = _submit(api)
    _apply(api, rec_id, "delivered")
    _apply(api, rec_id, "rejected", detail="Please see the practice nurse first")
    task, _ = _get(api, paths["Task"])
    assert (task["status"], _business(task)) == ("rejected", "rejected")
    assert task["statusReason"]["text"] == "Please see the practice nurse first"
    medication_request, _ = _get(api, paths["MedicationRequest"])
    assert medication_request["status"] == "cancelled"


def test_a_failed_delivery_fails_the_task_and_a_replay_requests_it_again(
    api: TestClient,
) -> None:
    rec_id, paths = _submit(api)
    _apply(api, rec_id, "delivery-failed", detail="gave up: 503 from the practice")
    task, _ = _get(api, paths["Task"])
    assert (task["status"], _business(task)) == ("failed", "delivery-failed")
    # Liaison's own words, not the practice system's error text.
    assert "503" not in json.dumps(task)
    _apply(api, rec_id, "queued")
    task, etag = _get(api, paths["Task"])
    assert (task["status"], _business(task), etag) == ("requested", "queued", 'W/"3"')
    assert "statusReason" not in task
    medication_request, etag = _get(api, paths["MedicationRequest"])
    assert (medication_request["status"], etag) == ("active", 'W/"1"')


def test_the_location_of_a_fhir_create_can_be_read_back(api: TestClient) -> None:
    response = api.post(
        "/fhir/MedicationRequest",
        content=json.dumps(submission("P-vread")),
        headers={"Content-Type": FHIR_JSON},
    )
    assert response.status_code == 201, response.text
    location = response.headers["Location"].split("/fhir/", 1)[1]
    as_created, etag = _get(api, location)
    assert as_created == response.json()
    assert etag == 'W/"1"'


@pytest.mark.parametrize("version", ["2", "0", "-1", "abc", "1" * 20])
def test_a_version_that_does_not_exist_is_not_found(api: TestClient, version: str) -> None:
    _, paths = _submit(api)
    response = api.get(f"/fhir/{paths['Task']}/_history/{version}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert response.json()["issue"][0]["code"] == "not-found"


def test_history_is_refused_clearly_where_it_does_not_apply(
    api: TestClient, served: tuple[TestClient, Settings]
) -> None:
    _, paths = _submit(api)
    unknown = api.get(f"/fhir/{paths['Task']}/_history", params={"_since": "2026-01-01"})
    assert unknown.status_code == 400
    assert unknown.json()["issue"][0]["expression"] == ["_since"]
    definition = api.get("/fhir/StructureDefinition/Liaison-Task-Fulfilment/_history")
    assert definition.status_code == 404
    assert definition.json()["issue"][0]["code"] == "not-supported"
    assert api.get("/fhir/Observation/x/_history/1").status_code == 404
    assert api.get("/fhir/Task/no-such-task/_history").status_code == 404
    # Another organisation sees neither the history nor any version.
    elsewhere = bearer(served[1], client_id="other-app", organisation_ods="RX4")
    assert api.get(f"/fhir/{paths['Task']}/_history", headers=elsewhere).status_code == 404
    assert api.get(f"/fhir/{paths['Task']}/_history/1", headers=elsewhere).status_code == 404
