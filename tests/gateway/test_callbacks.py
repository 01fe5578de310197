"""Signed GP callbacks: a valid signature moves the request on; a bad signature, a stale
timestamp or another practice's secret gets 401 and changes nothing."""

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fhir_profiles import systems
from fhir_profiles.task_status import task_fields_for
from gateway.cli import sample_recommendation
from gateway.domain.callback_signatures import sign
from gateway.practice_directory import PracticeSettings, write_practice
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.unit_of_work import UnitOfWork

SECRETS = {"A81001": "a81001-callback-secret-0123456789", "A81002": "a81002-other-secret-987"}


@pytest.fixture
def practices(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        for ods, secret in SECRETS.items():
            monkeypatch.setenv(f"LIAISON_PRACTICE_SECRET_{ods}_CALLBACK", secret)
            entry = PracticeSettings(
                adapter="fhir",
                base_url="https://gp.example/fhir",
                callback_secret_env=f"LIAISON_PRACTICE_SECRET_{ods}_CALLBACK",
            )
            write_practice(uow, ods, entry, source="api")
        write_practice(
            uow,
            "A81009",
            PracticeSettings(adapter="fhir", base_url="https://x.example"),
            source="api",
        )
        uow.commit()


def _delivered(api: TestClient, ods: str, key: str) -> str:
    response = api.post(
        "/v1/recommendations", json=sample_recommendation(ods), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    rec_id = str(response.json()["id"])
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        apply_status(
            uow, StatusChange(rec_id, "delivered", source="delivery"), now=datetime.now(UTC)
        )
        uow.commit()
    return rec_id


def _task(rec_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "identifier": [{"system": systems.RECOMMENDATION_ID, "value": rec_id}],
        "intent": "order",
        **task_fields_for(status, **fields),
    }


def _post(
    api: TestClient,
    ods: str,
    body: dict[str, Any] | bytes,
    *,
    secret: str | None,
    timestamp: int | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    headers = {"Content-Type": "application/fhir+json", "X-Liaison-Timestamp": stamp}
    if secret is not None:
        headers["X-Liaison-Signature"] = sign(secret, stamp, raw)
    return api.post(f"/v1/gp-callbacks/{ods}", content=raw, headers=headers)


def _status(api: TestClient, rec_id: str) -> str:
    return str(api.get(f"/v1/recommendations/{rec_id}").json()["status"])


@pytest.mark.usefixtures("practices")
def test_a_validly_signed_task_moves_the_request_on(api: TestClient) -> None:
    rec_id = _delivered(api, "A81001", "cb-valid")
    response = _post(api, "A81001", _task(rec_id, "accepted"), secret=SECRETS["A81001"])

    assert response.status_code == 200, response.text
    assert response.json() == {
        "applied": 1,
        "unchanged": 0,
        "ignored": [],
        "unrecognised": 0,
        "unmatched": 0,
    }
    body = api.get(f"/v1/recommendations/{rec_id}").json()
    assert body["status"] == "accepted"
    assert body["timeline"][-1]["status"] == "accepted"


@pytest.mark.usefixtures("practices")
def test_a_bundle_of_tasks_is_applied_together(api: TestClient) -> None:
    first = _delivered(api, "A81001", "cb-bundle-1")
    second = _delivered(api, "A81001", "cb-bundle-2")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": _task(first, "rejected", detail="Not registered with us")},
            {"resource": _task(second, "prescription-issued", pharmacy="Boots, High St")},
        ],
    }
    response = _post(api, "A81001", bundle, secret=SECRETS["A81001"])
    assert response.status_code == 200, response.text
    assert response.json()["applied"] == 2
    assert _status(api, first) == "rejected"
    assert _status(api, second) == "prescription-issued"
    refused = api.get(f"/v1/recommendations/{first}").json()
    assert refused["timeline"][-1]["detail"] == "Not registered with us"


@pytest.mark.usefixtures("practices")
def test_a_bad_signature_is_401_and_changes_nothing(api: TestClient) -> None:
    rec_id = _delivered(api, "A81001", "cb-bad")
    response = _post(api, "A81001", _task(rec_id, "accepted"), secret="not-the-secret")

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "signature" in response.json()["detail"]
    assert _status(api, rec_id) == "delivered"


@pytest.mark.usefixtures("practices")
def test_a_missing_signature_is_401(api: TestClient) -> None:
    rec_id = _delivered(api, "A81001", "cb-missing")
    response = _post(api, "A81001", _task(rec_id, "accepted"), secret=None)
    assert response.status_code == 401
    assert "X-Liaison-Signature" in response.json()["detail"]
    assert _status(api, rec_id) == "delivered"


@pytest.mark.usefixtures("practices")
@pytest.mark.parametrize("skew", [-400, 400, -3600])
def test_a_timestamp_outside_five_minutes_is_401(api: TestClient, skew: int) -> None:
    rec_id = _delivered(api, "A81001", f"cb-stale-{skew}")
    response = _post(
        api,
        "A81001",
        _task(rec_id, "accepted"),
        secret=SECRETS["A81001"],
        timestamp=int(time.time()) + skew,
    )
    assert response.status_code == 401
    assert "window" in response.json()["detail"]
    assert _status(api, rec_id) == "delivered"


@pytest.mark.usefixtures("practices")
def test_a_callback_signed_with_another_practices_secret_is_401(api: TestClient) -> None:
    rec_id = _delivered(api, "A81002", "cb-wrong-practice")
    # A81001's secret, posted as A81002.
    response = _post(api, "A81002", _task(rec_id, "accepted"), secret=SECRETS["A81001"])
    assert response.status_code == 401
    assert _status(api, rec_id) == "delivered"


@pytest.mark.usefixtures("practices")
def test_a_practice_cannot_speak_for_another_practices_request(api: TestClient) -> None:
    theirs = _delivered(api, "A81001", "cb-theirs")
    # Correctly signed by A81002, but about A81001's request.
    response = _post(api, "A81002", _task(theirs, "rejected"), secret=SECRETS["A81002"])
    assert response.status_code == 200
    assert response.json()["ignored"] == [theirs]
    assert response.json()["applied"] == 0
    assert _status(api, theirs) == "delivered"


@pytest.mark.usefixtures("practices")
def test_a_practice_without_a_secret_or_unknown_is_401(api: TestClient) -> None:
    for ods in ("A81009", "Z99999"):
        response = _post(api, ods, {"resourceType": "Task"}, secret="anything")
        assert response.status_code == 401, ods


@pytest.mark.usefixtures("practices")
def test_a_signed_body_that_is_not_tasks_is_422_naming_the_field(api: TestClient) -> None:
    rec_id = _delivered(api, "A81001", "cb-422")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": _task(rec_id, "accepted")},
            {"resource": {"resourceType": "Patient"}},
        ],
    }
    response = _post(api, "A81001", bundle, secret=SECRETS["A81001"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "entry.1.resource"
    assert _status(api, rec_id) == "delivered"  # nothing applied, not even the valid Task

    not_json = _post(api, "A81001", b"{not json", secret=SECRETS["A81001"])
    assert not_json.status_code == 422


@pytest.mark.usefixtures("practices")
def test_a_signature_a_little_old_is_still_inside_the_window(api: TestClient) -> None:
    rec_id = _delivered(api, "A81001", "cb-two-minutes")
    response = _post(
        api,
        "A81001",
        _task(rec_id, "accepted"),
        secret=SECRETS["A81001"],
        timestamp=int(time.time()) - 120,
    )
    assert response.status_code == 200, response.text
    assert _status(api, rec_id) == "accepted"


@pytest.mark.usefixtures("practices")
@pytest.mark.parametrize(
    ("path", "body", "signature"),
    [
        ("A81001", b'{"resourceType": "Patient"}', None),
        ("A81001", b"not json at all", "sha256=00"),
        ("A81001", b'{"resourceType": "Bundle", "entry": "x"}', "malformed"),
        ("not-an-ods-code!", b'{"resourceType": "Task"}', None),
    ],
)
def test_an_unsigned_callback_learns_nothing_of_what_a_valid_body_looks_like(
    api: TestClient, path: str, body: bytes, signature: str | None
) -> None:
    headers = {
        "Content-Type": "application/fhir+json",
        "X-Liaison-Timestamp": str(int(time.time())),
    }
    if signature is not None:
        headers["X-Liaison-Signature"] = signature
    response = api.post(f"/v1/gp-callbacks/{path}", content=body, headers=headers)
    assert response.status_code == 401
    text = response.text
    for schema_word in ("resourceType", "entry", "Task or Bundle", "pattern", "ods_code"):
        assert schema_word not in text
