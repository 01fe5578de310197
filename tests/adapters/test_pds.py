"""The PDS client against PDS's published examples and, over HTTP, against the PDS stand-in."""

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.errors import PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.pds import PatientUnknown, PdsClient, PdsPatient, application_restricted_auth
from adapters.standins.pds import create_app
from adapters.standins.pds import patients as canned
from tests.live_server import serving

EXAMPLES = Path(__file__).parent / "pds_examples"
BASE = "https://pds.example/personal-demographics/FHIR/R4"


def _example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return body


def _serving(body: dict[str, Any], status: int = 200, **headers: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body, headers=headers))


def _client(transport: httpx.BaseTransport, today: date = date(2025, 6, 1)) -> PdsClient:
    return PdsClient(base_url=BASE, transport=transport, today=lambda: today, retry_max_wait=0.01)


# --- the published examples -------------------------------------------------------------


def test_published_patient_example_gives_the_registered_practice_and_nominated_pharmacy() -> None:
    found = _client(_serving(_example("Patient.json"))).lookup("9000000009", correlation_id="c")
    assert isinstance(found, PdsPatient)
    assert found.practice == "Y12345"
    assert found.nominated_pharmacy == "Y12345"
    assert found.birth_date == date(2010, 10, 22)
    assert not found.restricted
    assert not found.superseded
    # The published example patient carries a deceasedDateTime.
    assert found.deceased


def test_published_patient_example_registration_past_its_period_end_is_not_usable() -> None:
    # Patient.json's generalPractitioner period ends 2025-12-31: PDS says "is, or was".
    client = _client(_serving(_example("Patient.json")), today=date(2026, 12, 3))
    found = client.lookup("9000000009", correlation_id=None)
    assert isinstance(found, PdsPatient)
    assert found.practice is None
    assert found.practice_note == "the registration PDS holds has ended"


def test_published_sensitive_example_is_restricted_without_a_practice() -> None:
    found = _client(_serving(_example("Sensitive_Patient.json"))).lookup(
        "9000000025", correlation_id=None
    )
    assert isinstance(found, PdsPatient)
    assert found.restricted
    assert found.practice is None
    assert found.practice_note is not None
    assert "restricted" in found.practice_note


def test_published_minimal_example_has_no_practice_and_no_birth_date() -> None:
    found = _client(_serving(_example("Minimal_Patient.json"))).lookup(
        "9000000033", correlation_id=None
    )
    assert isinstance(found, PdsPatient)
    assert found.practice is None
    assert found.birth_date is None
    assert not found.deceased


def test_an_answer_for_another_number_is_a_superseded_number() -> None:
    found = _client(_serving(_example("Patient.json"))).lookup("9434765919", correlation_id=None)
    assert isinstance(found, PdsPatient)
    assert found.superseded
    assert found.nhs_number == "9000000009"


def _spine_error(status: int, code: str) -> httpx.MockTransport:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "value",
                "details": {
                    "coding": [
                        {
                            "system": "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode",
                            "version": "1",
                            "code": code,
                        }
                    ]
                },
            }
        ],
    }
    return _serving(outcome, status)


@pytest.mark.parametrize(
    ("status", "code"),
    [(404, "RESOURCE_NOT_FOUND"), (404, "INVALIDATED_RESOURCE"), (400, "INVALID_RESOURCE_ID")],
)
def test_spine_not_found_and_invalid_number_mean_the_patient_is_unknown(
    status: int, code: str
) -> None:
    found = _client(_spine_error(status, code)).lookup("9000000009", correlation_id=None)
    assert isinstance(found, PatientUnknown)
    assert "9000000009" not in found.reason


def test_a_missing_header_error_is_permanent_and_names_no_patient() -> None:
    with pytest.raises(PermanentAdapterError) as raised:
        _client(_spine_error(400, "MISSING_VALUE")).lookup("9000000009", correlation_id=None)
    assert "MISSING_VALUE" in str(raised.value)
    assert "9000000009" not in str(raised.value)


def test_rate_limited_with_retry_after_longer_than_a_short_wait_is_left_to_the_caller() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": "30"}, json={})

    with pytest.raises(RateLimited) as raised:
        _client(httpx.MockTransport(answer)).lookup("9000000009", correlation_id=None)
    assert raised.value.retry_after == 30.0
    assert len(calls) == 1


def test_rate_limited_briefly_is_retried_after_the_wait_asked_for() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}), None])

    def answer(request: httpx.Request) -> httpx.Response:
        return next(answers) or httpx.Response(200, json=_example("Patient.json"))

    found = _client(httpx.MockTransport(answer)).lookup("9000000009", correlation_id=None)
    assert isinstance(found, PdsPatient)


# --- application-restricted access ------------------------------------------------------


def test_application_restricted_access_signs_an_rs512_assertion_with_the_api_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    token_url = "https://auth.example/oauth2/token"
    forms: list[dict[str, str]] = []
    bearers: list[str | None] = []

    def platform(request: httpx.Request) -> httpx.Response:
        if str(request.url) == token_url:
            form = dict(httpx.QueryParams(request.content.decode()))
            forms.append(form)
            claims = jwt.decode(
                form["client_assertion"], key.public_key(), algorithms=["RS512"], audience=token_url
            )
            assert claims["iss"] == claims["sub"] == "api-key-1"
            assert claims["exp"] - claims["iat"] <= 300
            assert jwt.get_unverified_header(form["client_assertion"])["kid"] == "test-1"
            # The platform's documented answer: expires_in is a string.
            return httpx.Response(
                200, json={"access_token": "tok", "expires_in": "599", "token_type": "Bearer"}
            )
        bearers.append(request.headers.get("Authorization"))
        return httpx.Response(200, json=_example("Patient.json"))

    auth = application_restricted_auth(
        token_url=token_url, api_key="api-key-1", private_key_pem=pem, key_id="test-1"
    )
    client = PdsClient(base_url=BASE, auth=auth, transport=httpx.MockTransport(platform))
    client.lookup("9000000009", correlation_id=None)
    client.lookup("9000000009", correlation_id=None)
    assert len(forms) == 1  # the token is reused until it expires
    assert "scope" not in forms[0]
    assert forms[0]["grant_type"] == "client_credentials"
    assert bearers == ["Bearer tok", "Bearer tok"]


# --- over HTTP, against the stand-in ----------------------------------------------------


@pytest.fixture(scope="module")
def stand_in() -> Iterator[str]:
    with serving(create_app()) as url:
        yield url


def _live(url: str) -> PdsClient:
    return PdsClient(base_url=f"{url}/personal-demographics/FHIR/R4", retry_max_wait=0.05)


def test_stand_in_names_the_practice_each_canned_patient_is_registered_at(stand_in: str) -> None:
    found = _live(stand_in).lookup(canned.registered_at("Y00002"), correlation_id="corr-1")
    assert isinstance(found, PdsPatient)
    assert found.practice == "Y00002"
    assert found.nominated_pharmacy == canned.PHARMACY
    assert found.birth_date == date.fromisoformat(canned.BIRTH_DATE)


def test_stand_in_unknown_superseded_deceased_and_restricted_patients(stand_in: str) -> None:
    client = _live(stand_in)
    assert isinstance(client.lookup(canned.UNKNOWN, correlation_id=None), PatientUnknown)
    superseded = client.lookup(canned.SUPERSEDED, correlation_id=None)
    assert isinstance(superseded, PdsPatient)
    assert superseded.superseded
    assert superseded.nhs_number == canned.SUPERSEDED_BY
    deceased = client.lookup(canned.DECEASED, correlation_id=None)
    assert isinstance(deceased, PdsPatient)
    assert deceased.deceased
    restricted = client.lookup(canned.RESTRICTED, correlation_id=None)
    assert isinstance(restricted, PdsPatient)
    assert restricted.restricted
    assert restricted.practice is None
    # A check digit that does not add up: PDS answers 400 INVALID_RESOURCE_ID.
    assert isinstance(client.lookup("9434765918", correlation_id=None), PatientUnknown)


def test_every_request_carries_a_fresh_uuid_request_id_and_the_correlation_id(
    stand_in: str,
) -> None:
    before = len(httpx.get(f"{stand_in}/_pds/requests").json())
    client = _live(stand_in)
    for _ in range(3):
        client.lookup(canned.DEMO, correlation_id="corr-42", end_user_ods="RX3")
    seen = httpx.get(f"{stand_in}/_pds/requests").json()[before:]
    ids = [entry["x-request-id"] for entry in seen]
    assert len(ids) == 3
    assert len(set(ids)) == 3
    assert all(str(uuid.UUID(value)) == value for value in ids)
    assert {entry["x-correlation-id"] for entry in seen} == {"corr-42"}
    assert {entry["nhsd-end-user-organisation-ods"] for entry in seen} == {"RX3"}


def test_stand_in_refuses_a_request_without_a_request_id(stand_in: str) -> None:
    response = httpx.get(f"{stand_in}/personal-demographics/FHIR/R4/Patient/{canned.DEMO}")
    assert response.status_code == 400
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "MISSING_VALUE"


def test_pds_unavailable_is_transient_after_short_retries(stand_in: str) -> None:
    httpx.post(f"{stand_in}/_pds/outage", json={"down_seconds": 30}).raise_for_status()
    try:
        with pytest.raises(TransientAdapterError) as raised:
            _live(stand_in).lookup(canned.DEMO, correlation_id=None)
        assert raised.value.status_code == 503
    finally:
        httpx.post(f"{stand_in}/_pds/outage", json={"down_seconds": 0}).raise_for_status()


def test_a_re_registered_patient_is_found_at_the_new_practice(stand_in: str) -> None:
    httpx.put(
        f"{stand_in}/_pds/patients/{canned.MOVER}/registration", json={"ods_code": "Y00003"}
    ).raise_for_status()
    try:
        found = _live(stand_in).lookup(canned.MOVER, correlation_id=None)
        assert isinstance(found, PdsPatient)
        assert found.practice == "Y00003"
    finally:
        httpx.put(
            f"{stand_in}/_pds/patients/{canned.MOVER}/registration", json={"ods_code": "Y00001"}
        )


def test_of_several_current_registrations_the_latest_is_taken_and_a_tie_is_not_guessed() -> None:
    body = _example("Patient.json")

    def gp(code: str, start: str) -> dict[str, Any]:
        return {
            "type": "Organization",
            "identifier": {
                "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                "value": code,
                "period": {"start": start},
            },
        }

    body["generalPractitioner"] = [gp("A81001", "2019-01-01"), gp("A81002", "2024-05-01")]
    found = _client(_serving(body)).lookup("9000000009", correlation_id=None)
    assert isinstance(found, PdsPatient)
    assert found.practice == "A81002"
    body["generalPractitioner"] = [gp("A81001", "2024-05-01"), gp("A81002", "2024-05-01")]
    tie = _client(_serving(body)).lookup("9000000009", correlation_id=None)
    assert isinstance(tie, PdsPatient)
    assert tie.practice is None
