"""A GP system that names the patient in its error diagnostics: the attempt is recorded and
shown to integration engineers (GET /ops/deliveries/{id}, the practice's health, the
timeline), without the patient's name, NHS number, birth date, phone or email."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.cli import sample_recommendation
from gateway.domain.retry_policy import RetryPolicy
from gateway.practice_directory import PracticeSettings, dev_directory, seed, write_practice
from gateway.security.tokens import issue_token
from gateway.services.intake import IntakeCommand, submit
from gateway.settings import BrokerSettings, DatabaseSettings, DeliverySettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork
from tests.peers.servers import serve_in_thread
from workers import delivery
from workers.runtime import Runtime, gp_system_factory

PRACTICE = "S00077"
# What a GP system might echo back about the sample recommendation's service user.
DIAGNOSTICS = (
    "Patient Sam Taylor (NHS 943 476 5919, 9434765919), SAM TAYLOR born 02/03/1974 "
    "(1974-03-02, 2 March 1974), mobile 07700 900123 / +44 7700 900123, "
    "email Sam@Example.org: no registration found at this practice"
)
IDENTIFIERS = (
    "Sam",
    "SAM",
    "Taylor",
    "TAYLOR",
    "9434765919",
    "943 476 5919",
    "02/03/1974",
    "1974-03-02",
    "2 March 1974",
    "07700 900123",
    "+44 7700 900123",
    "7700900123",
    "Sam@Example.org",
    "sam@example.org",
)


def _gp_system(status: int) -> FastAPI:
    app = FastAPI()

    @app.post("/fhir")
    def transaction() -> JSONResponse:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "processing", "diagnostics": DIAGNOSTICS}],
        }
        return JSONResponse(outcome, status_code=status, media_type="application/fhir+json")

    return app


@dataclass
class World:
    rt: Runtime
    api: TestClient


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/liaison.db"),
        broker=BrokerSettings(url="memory://"),
        delivery=DeliverySettings(http_timeout_seconds=5),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    rt = Runtime(
        settings=settings,
        session_factory=make_session_factory(engine),
        gp_system_for=gp_system_factory(settings),
        channel=lambda name: pytest.fail("no notification is sent here"),
        retry_policy=RetryPolicy(1, 2, 3600),
    )
    with UnitOfWork(rt.session_factory) as uow:
        seed(uow, dev_directory(settings))
        uow.commit()
    app = create_app(settings)
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as api:
        yield World(rt, api)
    app.state.engine.dispose()
    engine.dispose()


def _deliver_once(world: World, gp_url: str) -> tuple[str, str]:
    with UnitOfWork(world.rt.session_factory) as uow:
        write_practice(
            uow, PRACTICE, PracticeSettings(adapter="fhir", base_url=gp_url), source="api"
        )
        uow.commit()
    with UnitOfWork(world.rt.session_factory) as uow:
        result = submit(
            uow,
            IntakeCommand("demo-app", "RX3", str(uuid.uuid4()), sample_recommendation(PRACTICE)),
            now=datetime.now(UTC),
        )
        [row] = uow.deliveries.for_recommendation(result.recommendation_id)
        delivery_id = row.id
    delivery.deliver(world.rt, delivery_id)
    return result.recommendation_id, delivery_id


@pytest.mark.parametrize("status", [400, 409, 422, 500])
def test_gp_error_text_is_kept_and_shown_without_the_patients_details(
    world: World, status: int
) -> None:
    with serve_in_thread(_gp_system(status)) as url:
        rec_id, delivery_id = _deliver_once(world, f"{url}/fhir")

    detail = world.api.get(f"/ops/deliveries/{delivery_id}")
    assert detail.status_code == 200, detail.text
    [attempt] = detail.json()["attempts"]
    assert attempt["status_code"] == status
    health = world.api.get(f"/ops/practices/{PRACTICE}")
    assert health.status_code == 200, health.text
    timeline = world.api.get(f"/v1/recommendations/{rec_id}").json()["timeline"]
    shown = json.dumps([detail.json(), health.json(), timeline])
    for identifier in IDENTIFIERS:
        assert identifier not in shown, identifier
    if status < 500:  # a refusal's reason is kept for the engineers, cleaned
        error = attempt["error"]
        assert "no registration found at this practice" in error
        assert "Patient [name] [name] (NHS [nhs-number], [nhs-number])" in error
        assert "born [birth-date] ([birth-date], [birth-date])" in error
        assert "mobile [phone] / [phone]" in error
        assert "email [email]" in error
        assert detail.json()["last_error"] == error
