"""The audit trail: every access to patient data leaves an append-only record, which the
ops scope reads as FHIR AuditEvent, by recommendation and by date."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.api.app import create_app
from gateway.cli import sample_recommendation
from gateway.security.tokens import issue_token
from gateway.settings import Settings
from gateway.store.database import make_engine
from gateway.store.migrate import upgrade
from gateway.store.models import AuditRecord
from gateway.store.unit_of_work import UnitOfWork


def _records(api: TestClient, recommendation_id: str | None = None) -> list[AuditRecord]:
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        rows, _ = uow.audit.search(recommendation_id=recommendation_id, limit=500)
        uow.session.expunge_all()  # plain values, readable after the session closes
        return list(reversed(rows))


def _ops(settings: Settings) -> dict[str, str]:
    token = issue_token(settings, client_id="ops-tool", organisation_ods="LIAISON", scopes=("ops",))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def recommendation(api: TestClient) -> dict[str, Any]:
    accepted = api.post("/v1/recommendations", json=sample_recommendation("Y00001"))
    assert accepted.status_code == 202
    body: dict[str, Any] = accepted.json()
    return body


def test_each_access_to_a_recommendation_is_recorded(
    api: TestClient, recommendation: dict[str, Any]
) -> None:
    rec_id = recommendation["id"]
    api.get(f"/v1/recommendations/{rec_id}")
    api.get("/v1/recommendations")
    api.get(recommendation["links"]["fhir"]["Task"])
    api.post(f"/v1/recommendations/{rec_id}/cancel")

    seen = [(r.method, r.route, r.action, r.outcome) for r in _records(api, rec_id)]

    assert seen == [
        ("POST", "/v1/recommendations", "C", "0"),
        ("GET", "/v1/recommendations/{recommendation_id}", "R", "0"),
        ("GET", "/v1/recommendations", "R", "0"),
        ("GET", "/fhir/{resource_type}/{resource_id}", "R", "0"),
        ("POST", "/v1/recommendations/{recommendation_id}/cancel", "E", "0"),
    ]
    first = _records(api, rec_id)[0]
    assert (first.client_id, first.organisation_ods, first.actor_kind) == (
        "demo-app",
        "RX3",
        "case-management",
    )
    assert first.correlation_id
    assert first.recorded_at.tzinfo is not None


def test_refused_and_anonymous_attempts_are_recorded_too(
    api: TestClient, settings: Settings, recommendation: dict[str, Any]
) -> None:
    other = issue_token(settings, client_id="other-app", organisation_ods="RXX")
    api.get(
        f"/v1/recommendations/{recommendation['id']}",
        headers={"Authorization": f"Bearer {other}"},
    )
    api.get("/v1/recommendations", headers={"Authorization": ""})

    attempt = _records(api, recommendation["id"])[-1]
    assert (attempt.client_id, attempt.status_code, attempt.outcome) == ("other-app", 404, "4")
    anonymous = _records(api)[-1]
    assert (anonymous.client_id, anonymous.status_code, anonymous.outcome) == (None, 401, "4")


def test_public_routes_leave_no_record(api: TestClient) -> None:
    api.get("/healthz")
    api.get("/fhir/metadata")
    assert _records(api) == []


def test_audit_records_cannot_be_changed_or_deleted(
    api: TestClient, recommendation: dict[str, Any]
) -> None:
    engine = api.app.state.engine  # type: ignore[attr-defined]
    for statement in (
        "UPDATE audit_events SET client_id = 'someone-else'",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert _records(api)[0].client_id == "demo-app"


@pytest.mark.services
def test_audit_records_are_append_only_on_postgres(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_events (recorded_at, action, interaction, method, route,"
                    " status_code, outcome) VALUES (now(), 'R', 'read', 'GET', '/x', 200, '0')"
                )
            )
        for statement in (
            "UPDATE audit_events SET route = '/y'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def test_ops_searches_audit_events_by_recommendation_and_date(
    api: TestClient, settings: Settings, recommendation: dict[str, Any]
) -> None:
    rec_id = recommendation["id"]
    for _ in range(3):
        api.get(f"/v1/recommendations/{rec_id}")
    today = datetime.now(UTC).date()
    ops = _ops(settings)

    page = api.get(
        "/fhir/AuditEvent",
        params={"entity": rec_id, "date": f"ge{today.isoformat()}", "_count": 2},
        headers=ops,
    )

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("application/fhir+json")
    bundle = page.json()
    assert (bundle["type"], bundle["total"], len(bundle["entry"])) == ("searchset", 4, 2)
    for entry in bundle["entry"]:
        event = AuditEvent.model_validate(entry["resource"])
        assert event.entity[0].what.identifier.value == rec_id
        assert event.agent[0].who.identifier.value == "demo-app"
    following = api.get(
        next(link["url"] for link in bundle["link"] if link["relation"] == "next"), headers=ops
    ).json()
    assert len(following["entry"]) == 2
    ids = {e["resource"]["id"] for e in bundle["entry"] + following["entry"]}
    assert len(ids) == 4

    tomorrow = (today + timedelta(days=1)).isoformat()
    assert (
        api.get(
            "/fhir/AuditEvent", params={"entity": rec_id, "date": f"ge{tomorrow}"}, headers=ops
        ).json()["total"]
        == 0
    )
    on_the_day = api.get(
        "/fhir/AuditEvent", params={"entity": rec_id, "date": today.isoformat()}, headers=ops
    ).json()
    assert on_the_day["total"] == 4
    # The trail reads dates as every FHIR search does: a month or a year is its whole range.
    for coarse in (today.strftime("%Y-%m"), f"le{today.year}", f"gt{today.year - 1}"):
        found = api.get(
            "/fhir/AuditEvent", params={"entity": rec_id, "date": coarse}, headers=ops
        ).json()
        assert found["total"] == 4, coarse
    assert (
        api.get(
            "/fhir/AuditEvent", params={"entity": rec_id, "date": f"gt{today.year}"}, headers=ops
        ).json()["total"]
        == 0
    )

    one = api.get(f"/fhir/AuditEvent/{bundle['entry'][0]['resource']['id']}", headers=ops)
    assert one.json()["id"] == bundle["entry"][0]["resource"]["id"]
    assert api.get("/fhir/AuditEvent/999999", headers=ops).status_code == 404


def test_audit_events_name_no_patient(
    api: TestClient, settings: Settings, recommendation: dict[str, Any]
) -> None:
    body = api.get(
        "/fhir/AuditEvent", params={"entity": recommendation["id"]}, headers=_ops(settings)
    ).text
    for identifier in ("9434765919", "Sam", "Taylor", "+447700900123", "sam@example.org"):
        assert identifier not in body


@pytest.mark.parametrize("value", ["yesterday", "ne2026-01-01", "2026-13-45"])
def test_a_bad_date_is_named(api: TestClient, settings: Settings, value: str) -> None:
    response = api.get("/fhir/AuditEvent", params={"date": value}, headers=_ops(settings))

    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["date"]
    assert "date" in outcome["issue"][0]["diagnostics"]


def test_only_the_ops_scope_reads_the_trail(api: TestClient) -> None:
    # The default test token has every scope; a case-management token has not ops.
    assert api.get("/fhir/AuditEvent").status_code == 200
    case = issue_token(
        api.app.state.settings,  # type: ignore[attr-defined]
        client_id="case-app",
        organisation_ods="RX3",
        scopes=("recommendations", "fhir"),
    )
    refused = api.get("/fhir/AuditEvent", headers={"Authorization": f"Bearer {case}"})
    assert refused.status_code == 403


def test_nothing_is_disclosed_when_the_trail_cannot_be_written(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/noaudit.db", broker_url="memory://", data_dir=tmp_path
    )
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE audit_events"))
    engine.dispose()
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")

    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/recommendations", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 503
    assert "audit" in response.json()["detail"]
    assert "items" not in response.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/fhir/AuditEvent/³", {}),
        ("/fhir/AuditEvent/99999999999999999999999", {}),
        ("/fhir/AuditEvent", {"_offset": 2**63}),
        ("/fhir/AuditEvent", {"_count": 0}),
    ],
)
def test_odd_paging_and_ids_are_refused_cleanly(
    api: TestClient, settings: Settings, path: str, params: dict[str, Any]
) -> None:
    response = api.get(path, params=params, headers=_ops(settings))

    assert response.status_code in (404, 422)
    assert response.json()["resourceType"] == "OperationOutcome"
