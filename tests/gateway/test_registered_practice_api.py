"""`gp_practice` is optional when the worker asks PDS for the registered practice; without
PDS it is required. Intake never waits on PDS: nothing here reaches one."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.cli import sample_recommendation
from gateway.domain.messages import compose
from gateway.practice_directory import dev_directory, seed
from gateway.security.tokens import issue_token
from gateway.settings import BrokerSettings, DatabaseSettings, PdsSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts


@pytest.fixture
def pds_api(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/api.db"),
        broker=BrokerSettings(url="memory://"),
        # Never called by the API: the worker asks PDS (workers.resolving).
        pds=PdsSettings(base_url="http://127.0.0.1:9/personal-demographics/FHIR/R4"),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
    engine.dispose()
    app = create_app(settings)
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    app.state.engine.dispose()


def _without_practice() -> dict[str, object]:
    body = sample_recommendation("Y00001")
    del body["gp_practice"]
    return body


def test_without_pds_a_missing_practice_is_refused_naming_the_field(api: TestClient) -> None:
    before = row_counts(api)
    response = api.post("/v1/recommendations", json=_without_practice())
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "gp_practice.ods_code"
    assert "PDS is not configured" in problem["errors"][0]["detail"]
    assert row_counts(api) == before


def test_with_pds_a_recommendation_without_practice_is_accepted_at_once(
    pds_api: TestClient,
) -> None:
    response = pds_api.post("/v1/recommendations", json=_without_practice())
    assert response.status_code == 202, response.text
    shown = pds_api.get(f"/v1/recommendations/{response.json()['id']}").json()
    assert shown["practice_ods"] is None
    assert shown["routing"] is None
    assert shown["attempts"]["deliveries"] == 1
    # The resources are built once the practice is known, addressed to it.
    counts = row_counts(pds_api)
    assert counts["fhir_resources"] == 0
    assert counts["outbox"] >= 1


def test_with_pds_a_practice_code_liaison_does_not_know_is_kept_as_given(
    pds_api: TestClient,
) -> None:
    body = sample_recommendation("Y00001")
    body["gp_practice"] = {"ods_code": "Z99999"}
    response = pds_api.post("/v1/recommendations", json=body)
    assert response.status_code == 202, response.text
    shown = pds_api.get(f"/v1/recommendations/{response.json()['id']}").json()
    assert shown["practice_ods"] is None


def _routed_payload() -> dict[str, object]:
    payload: dict[str, object] = sample_recommendation("Y00002")
    payload["routing"] = {
        "ods_code": "Y00001",
        "name": "RIVERSIDE MEDICAL PRACTICE",
        "telephone": "0113 496 0001",
        "given_ods_code": "Y00002",
        "corrected": True,
    }
    payload["nominated_pharmacy"] = {"ods_code": "FH542", "name": "RIVERSIDE PHARMACY"}
    return payload


def _compose(event: str, recipient: str) -> str:
    wording = compose(
        event=event,
        recipient=recipient,
        recommendation_id="r-1",
        detail=None,
        payload=_routed_payload(),
        product_name="Varenicline 1 mg tablets",
        pharmacy=None,
    )
    return wording.subject + "\n" + wording.body


def test_messages_name_the_practice_as_ods_does_and_give_its_telephone() -> None:
    corrected = _compose("practice-corrected", "practitioner")
    assert "RIVERSIDE MEDICAL PRACTICE (Y00001)" in corrected
    assert "not Y00002" in corrected
    assert (
        "please call your practice on 0113 496 0001"
        in _compose("appointment-needed", "service-user").lower()
    )


def test_the_ready_message_names_the_nominated_pharmacy_when_the_pharmacy_did_not() -> None:
    assert "ready to collect at Riverside Pharmacy" in _compose("ready-to-collect", "service-user")


def test_engineers_see_a_delivery_waiting_for_its_practice_without_an_error(
    pds_api: TestClient,
) -> None:
    rec = pds_api.post("/v1/recommendations", json=_without_practice()).json()["id"]
    listed = pds_api.get("/ops/deliveries")
    assert listed.status_code == 200, listed.text
    mine = [d for d in listed.json()["items"] if d["recommendation_id"] == rec]
    assert mine
    assert mine[0]["practice_ods"] is None
    queues = pds_api.get("/ops/queues")
    assert queues.status_code == 200, queues.text
