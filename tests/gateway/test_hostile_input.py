"""Hostile input, with and without a token, on PostgreSQL (which cannot store NUL) and SQLite:
every request gets a clear 4xx naming what is wrong, never a 5xx, and leaves no rows."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.api.oauth import JWT_BEARER
from gateway.cli import sample_recommendation
from gateway.practice_directory import dev_directory, seed
from gateway.security.tokens import issue_token
from gateway.settings import BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts
from tests.gateway.test_oauth import ClientSystem

DEEP = b"[" * 5000 + b"]" * 5000
# 9434765919 in fullwidth digits (U+FF10 onwards), which str.isdigit() accepts.
FULLWIDTH_NHS_NUMBER = "".join(chr(0xFF10 + int(d)) for d in "9434765919")


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/api.db"
    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=url),
        broker=BrokerSettings(url="memory://"),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
        uow.commit()
    engine.dispose()
    app = create_app(settings)
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
    with TestClient(
        app, headers={"Authorization": f"Bearer {token}"}, raise_server_exceptions=False
    ) as api:
        yield api
    app.state.engine.dispose()


def _refused(response: Any, status: int, names: str) -> None:
    assert response.status_code == status, response.text
    assert names in response.text, response.text


def _recommendation(**changes: Any) -> dict[str, Any]:
    body = sample_recommendation("Y00001")
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return body


WITHOUT_TOKEN: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("post", "/v1/recommendations", {"content": DEEP}, 400, "body"),
    ("post", "/v1/gp-callbacks/Y00001", {"content": DEEP}, 400, "body"),
    ("post", "/fhir/Task", {"content": DEEP}, 400, "body"),
    (
        "post",
        "/oauth2/token",
        {"data": {"grant_type": "client_credentials", "client_assertion": "a\x00b"}},
        400,
        "body",
    ),
    (
        "post",
        "/inbox/login",
        {"data": {"practice": "Y\x0000", "username": "u", "password": "p", "csrf_token": "x"}},
        400,
        "body",
    ),
    ("get", "/v1/recommendations/a%00b", {}, 400, "path"),
    ("get", "/fhir/Task/a%00b", {}, 400, "path"),
    ("get", "/fhir/Task?identifier=a%00b", {}, 400, "query"),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "names"), WITHOUT_TOKEN)
def test_hostile_requests_without_a_token_are_refused_naming_the_part(
    client: TestClient, method: str, url: str, kwargs: dict[str, Any], status: int, names: str
) -> None:
    before = row_counts(client)
    headers = {"Authorization": ""}
    if "content" in kwargs:
        headers["Content-Type"] = "application/json"
    response = getattr(client, method)(url, headers=headers, **kwargs)
    _refused(response, status, names)
    assert row_counts(client) == before


WITH_TOKEN: list[tuple[str, str, dict[str, Any], int, str]] = [
    (
        "post",
        "/v1/recommendations",
        {"json": _recommendation(service_user__nhs_number=FULLWIDTH_NHS_NUMBER)},
        422,
        "service_user.nhs_number",
    ),
    (
        "post",
        "/v1/recommendations",
        {"json": _recommendation(service_user__nhs_number="٩٤٣٤٧٦٥٩١٩")},
        422,
        "service_user.nhs_number",
    ),
    (
        "post",
        "/v1/recommendations",
        {"json": _recommendation(practitioner__id="mhscp\x00001")},
        400,
        "body",
    ),
    (
        "post",
        "/v1/recommendations",
        {"json": _recommendation(service_user__name={"given": "Sam", "family": "Tay\u202eror"})},
        422,
        "service_user.name.family",
    ),
    (
        "post",
        "/v1/recommendations",
        {"json": _recommendation(medication__dose_text="1 mg\x1b[2J twice daily")},
        422,
        "medication.dose_text",
    ),
    (
        "post",
        "/v1/recommendations",
        {"json": _recommendation(), "headers": {"Idempotency-Key": "a\x00b"}},
        400,
        "idempotency-key",
    ),
    ("get", "/fhir/Task?_count=²", {}, 400, "_count"),
    ("get", "/fhir/Task?_lastUpdated=99999", {}, 400, "_lastUpdated"),
    ("get", "/fhir/Task?_lastUpdated=2026-02-30", {}, 400, "_lastUpdated"),
    ("get", "/ops/deliveries?practice_ods=Y0%0001", {}, 400, "query"),
    (
        "post",
        "/ops/replays",
        {"json": {"created_before": "2026-01-01T00:00:00"}},
        422,
        "created_before",
    ),
    (
        "post",
        "/ops/replays",
        {"json": {"created_before": "9999-12-31T23:59:59-23:59"}},
        422,
        "created_before",
    ),
    ("get", "/ops/deliveries?offset=100000000000000000000", {}, 422, "offset"),
    ("get", "/ops/deliveries?older_than_seconds=100000000000000000", {}, 422, "older_than_seconds"),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "names"), WITH_TOKEN)
def test_hostile_requests_with_a_token_are_refused_naming_the_field(
    client: TestClient, method: str, url: str, kwargs: dict[str, Any], status: int, names: str
) -> None:
    before = row_counts(client)
    response = getattr(client, method)(url, **kwargs)
    _refused(response, status, names)
    assert row_counts(client) == before


@pytest.mark.parametrize(
    "query",
    [
        "_lastUpdated=9999",
        "_lastUpdated=9999-12-31T23:59Z",
        "_lastUpdated=ge9999-12-31T23:59:59-23:59",
        "_lastUpdated=le0001-01-01T00:00:00%2B23:59",
    ],
)
def test_fhir_dates_at_the_ends_of_the_calendar_are_searches_that_find_nothing(
    client: TestClient, query: str
) -> None:
    response = client.get(f"/fhir/Task?{query}")
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


def test_an_audit_search_from_the_last_day_there_is_finds_nothing(client: TestClient) -> None:
    response = client.get("/fhir/AuditEvent?date=ge9999-12-31")
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_an_assertion_whose_alg_does_not_fit_the_registered_key_is_a_401(
    client: TestClient, alg: str
) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    key_type = "EC" if alg == "RS256" else "RSA"  # the registered key is of the other type
    system = ClientSystem(client, settings, f"alg-{alg.lower()}", key_type=key_type)
    other = "RSA" if key_type == "EC" else "EC"
    from gateway.security import keys

    pem = keys.generate_private_key_pem(other)
    claims = {
        "iss": system.client_id,
        "sub": system.client_id,
        "aud": settings.api.token_endpoint_url,
        "jti": f"alg-{alg}-{time.time()}",
        "exp": int(time.time()) + 60,
    }
    assertion = jwt.encode(claims, pem, algorithm=alg, headers={"kid": system.kid})
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        },
        headers={"Authorization": ""},
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
