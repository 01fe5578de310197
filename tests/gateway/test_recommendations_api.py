"""POST/GET /v1/recommendations: what a case-management app relies on."""

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.cli import sample_recommendation
from gateway.security.tokens import issue_token
from gateway.settings import BrokerSettings, DatabaseSettings, Settings
from tests.gateway.conftest import row_counts

EMPTY = {
    "recommendations": 0,
    "fhir_resources": 0,
    "deliveries": 0,
    "outbox": 0,
    "status_events": 0,
    "idempotency_keys": 0,
    "notifications": 0,
    "delivery_attempts": 0,
}


def body(**changes: Any) -> dict[str, Any]:
    payload = sample_recommendation("Y00001")
    payload.update(changes)
    return payload


def test_accepted_recommendation_is_stored_with_resources_delivery_and_outbox(
    api: TestClient,
) -> None:
    response = api.post("/v1/recommendations", json=body(), headers={"Idempotency-Key": "k1"})

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "received"
    assert response.headers["Location"] == accepted["links"]["self"]
    # The sample takes clozapine, so a clinical-safety DetectedIssue is stored too.
    assert set(accepted["links"]["fhir"]) == {
        "MedicationRequest",
        "CommunicationRequest",
        "Task",
        "DetectedIssue",
    }
    counts = row_counts(api)
    assert counts["recommendations"] == 1
    # The requests, the flag, and the Patient, Practitioner and PractitionerRole they name.
    assert counts["fhir_resources"] == 7
    assert counts["deliveries"] == 1
    # One delivery, and the care team's clinical-safety email in the same transaction.
    assert counts["outbox"] == 2
    assert counts["idempotency_keys"] == 1

    shown = api.get(f"/v1/recommendations/{accepted['id']}").json()
    assert shown["status"] == "received"
    assert [e["status"] for e in shown["timeline"]] == ["received"]
    assert shown["attempts"] == {
        "deliveries": 1,
        "attempts": 0,
        "state": "pending",
        "last_error": None,
        "next_attempt_at": None,
    }


def test_stored_fhir_resources_are_readable_and_point_at_each_other(api: TestClient) -> None:
    accepted = api.post("/v1/recommendations", json=body()).json()
    links = accepted["links"]["fhir"]

    med = api.get(links["MedicationRequest"])
    task = api.get(links["Task"]).json()
    comm = api.get(links["CommunicationRequest"]).json()

    assert med.headers["content-type"].startswith("application/fhir+json")
    med_json = med.json()
    assert med_json["intent"] == "proposal"
    assert med_json["subject"]["identifier"] == {
        "system": "https://fhir.nhs.uk/Id/nhs-number",
        "value": "9434765919",
    }
    assert task["focus"]["reference"] == f"MedicationRequest/{med_json['id']}"
    assert comm["recipient"][0]["identifier"]["value"] == "Y00001"
    assert comm["reasonCode"][0]["coding"][0]["code"] == "710081004"


def test_same_idempotency_key_and_body_returns_the_first_answer(api: TestClient) -> None:
    first = api.post("/v1/recommendations", json=body(), headers={"Idempotency-Key": "same"})
    second = api.post("/v1/recommendations", json=body(), headers={"Idempotency-Key": "same"})

    assert second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert row_counts(api)["recommendations"] == 1


def test_same_idempotency_key_with_a_different_body_is_refused(api: TestClient) -> None:
    api.post("/v1/recommendations", json=body(), headers={"Idempotency-Key": "same"})
    other = body(plan="reduce")

    response = api.post("/v1/recommendations", json=other, headers={"Idempotency-Key": "same"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert row_counts(api)["recommendations"] == 1


def _broken(path: list[str | int], value: Any) -> dict[str, Any]:
    payload = copy.deepcopy(body())
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        (["service_user", "nhs_number"], "9434765918", "service_user.nhs_number", "NHS number"),
        (["service_user", "nhs_number"], 9434765919, "service_user.nhs_number", "must be text"),
        (["medication", "product"], "smokeless-magic", "medication.product", "unknown medicine"),
        (
            ["service_user", "contact", "mobile"],
            "+442079460000",
            "service_user.contact.mobile",
            "UK mobile",
        ),
        (["practitioner", "email"], "not-an-email", "practitioner.email", "email"),
        (["consent", "share_with_gp"], False, "consent.share_with_gp", "must be true"),
        (["plan"], "stop-tomorrow", "plan", "quit"),
        (["medication", "duration_days"], "lots", "medication.duration_days", "whole number"),
    ],
)
def test_bad_input_gets_a_problem_naming_the_field_and_stores_nothing(
    api: TestClient, path: list[str | int], value: Any, field: str, words: str
) -> None:
    response = api.post("/v1/recommendations", json=_broken(path, value))

    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["errors"][0]["field"] == field
    assert words in problem["errors"][0]["detail"]
    assert row_counts(api) == dict.fromkeys(row_counts(api), 0)


def test_missing_consent_is_refused(api: TestClient) -> None:
    payload = body()
    del payload["consent"]

    response = api.post("/v1/recommendations", json=payload)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "consent"
    assert row_counts(api) == dict.fromkeys(row_counts(api), 0)


def test_unknown_practice_is_a_clear_422_not_a_silent_queue(api: TestClient) -> None:
    response = api.post("/v1/recommendations", json=body(gp_practice={"ods_code": "Z99999"}))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "gp_practice.ods_code"
    assert "Z99999" in response.json()["detail"]
    assert row_counts(api) == dict.fromkeys(row_counts(api), 0)


def test_malformed_json_is_named_as_such(api: TestClient) -> None:
    response = api.post(
        "/v1/recommendations",
        content=b'{"service_user": ',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]
    assert row_counts(api) == dict.fromkeys(row_counts(api), 0)


def test_oversized_body_is_refused_with_413(api: TestClient) -> None:
    response = api.post("/v1/recommendations", json=body(note="x" * 20_000))

    assert response.status_code == 413
    assert "exceeds" in response.json()["detail"]
    assert row_counts(api) == dict.fromkeys(row_counts(api), 0)


@pytest.mark.parametrize("route", ["/v1/recommendations", "/ops/queues", "/fhir/Task/anything"])
def test_routes_need_a_bearer_token(api: TestClient, route: str) -> None:
    response = api.get(route, headers={"Authorization": ""})

    assert response.status_code == 401


def test_expired_or_forged_tokens_are_refused(api: TestClient, settings: Settings) -> None:
    expired = issue_token(settings, client_id="demo-app", organisation_ods="RX3", ttl=-10)
    forged = issue_token(
        settings.model_copy(
            update={"security": settings.security.model_copy(update={"secret_key": "x" * 40})}
        ),
        client_id="demo-app",
        organisation_ods="RX3",
    )

    for token, words in ((expired, "expired"), (forged, "not valid")):
        response = api.get("/v1/recommendations", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert words in response.json()["detail"]


def test_another_organisation_cannot_see_the_recommendation(
    api: TestClient, settings: Settings
) -> None:
    accepted = api.post("/v1/recommendations", json=body()).json()
    other = issue_token(settings, client_id="other-app", organisation_ods="RXX")
    headers = {"Authorization": f"Bearer {other}"}

    assert api.get(f"/v1/recommendations/{accepted['id']}", headers=headers).status_code == 404
    assert api.get("/v1/recommendations", headers=headers).json()["total"] == 0
    assert api.get(accepted["links"]["fhir"]["Task"], headers=headers).status_code == 404
    cancel = api.post(f"/v1/recommendations/{accepted['id']}/cancel", headers=headers)
    assert cancel.status_code == 404


def test_list_filters_and_paginates(api: TestClient) -> None:
    ids = [api.post("/v1/recommendations", json=body()).json()["id"] for _ in range(3)]
    api.post("/v1/recommendations", json=body(gp_practice={"ods_code": "Y00002"}))

    page = api.get("/v1/recommendations", params={"practice": "Y00001", "limit": 2}).json()
    assert page["total"] == 3
    assert len(page["items"]) == 2
    rest = api.get(page["next"]).json()
    assert {i["id"] for i in page["items"] + rest["items"]} == set(ids)
    assert rest["next"] is None
    assert api.get("/v1/recommendations", params={"status": "nonsense"}).status_code == 422


def test_cancel_moves_to_cancelled_once(api: TestClient) -> None:
    rec_id = api.post("/v1/recommendations", json=body()).json()["id"]

    first = api.post(f"/v1/recommendations/{rec_id}/cancel")
    again = api.post(f"/v1/recommendations/{rec_id}/cancel")

    assert first.status_code == again.status_code == 200
    shown = api.get(f"/v1/recommendations/{rec_id}").json()
    assert shown["status"] == "cancelled"
    assert [e["status"] for e in shown["timeline"]] == ["received", "cancelled"]


def test_health_and_readiness_say_ok_when_the_database_and_broker_answer(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readiness_reports_an_unreachable_broker(tmp_path: Any) -> None:
    from gateway.api.app import create_app

    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/x.db"),
        broker=BrokerSettings(url="redis://127.0.0.1:1/0"),
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"].startswith("unreachable")


def test_the_task_states_when_liaison_will_chase_and_the_practitioner_registration(
    api: TestClient,
) -> None:
    practitioner = {
        **body()["practitioner"],
        "sds_user_id": "555021935107",
        "registration": {"body": "NMC", "number": "12A3456B"},
    }
    response = api.post("/v1/recommendations", json=body(practitioner=practitioner))
    assert response.status_code == 202
    task_url = response.json()["links"]["fhir"]["Task"]
    task = api.get("/" + task_url.split("/", 3)[3]).json()
    period = task["restriction"]["period"]
    # The practice's own chase_after_days (working days) after the request.
    assert period["end"] > period["start"]
    assert task["priority"] == "routine"


def test_a_malformed_professional_registration_is_refused_naming_the_field(
    api: TestClient,
) -> None:
    practitioner = {**body()["practitioner"], "registration": {"body": "XYZ", "number": "1"}}
    response = api.post("/v1/recommendations", json=body(practitioner=practitioner))
    assert response.status_code == 422
    assert "registration" in response.text
    assert row_counts(api)["recommendations"] == 0
