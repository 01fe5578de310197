"""/ops deliveries, replay and queues: what integration engineers rely on."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from gateway.cli import app as cli
from gateway.cli import sample_recommendation
from gateway.services.replay import run_batch_step
from gateway.settings import Settings, get_settings
from gateway.store.models import Delivery, DeliveryAttempt, OutboxMessage, Recommendation
from gateway.store.unit_of_work import UnitOfWork


def _submit(api: TestClient, ods: str) -> str:
    rec_id: str = api.post("/v1/recommendations", json=sample_recommendation(ods)).json()["id"]
    return rec_id


def _kill(api: TestClient, rec_id: str, error: str = "HTTP 503 from the practice") -> str:
    """Make the recommendation's delivery dead-lettered, as a spent budget would."""
    now = datetime.now(UTC)
    with api.app.state.session_factory() as session:  # type: ignore[attr-defined]
        delivery = session.scalars(
            select(Delivery).where(Delivery.recommendation_id == rec_id)
        ).one()
        delivery.state, delivery.last_error, delivery.attempt_count = "dead", error, 1
        session.add(
            DeliveryAttempt(
                delivery_id=delivery.id,
                number=1,
                adapter="simulator",
                started_at=now,
                finished_at=now,
                outcome="transient",
                status_code=503,
                error=error,
            )
        )
        session.get(Recommendation, rec_id).status = "delivery-failed"
        session.commit()
        return delivery.id


def _uow(api: TestClient) -> UnitOfWork:
    return UnitOfWork(api.app.state.session_factory)  # type: ignore[attr-defined]


def test_dead_deliveries_are_listed_with_their_last_error_and_no_patient_data(
    api: TestClient,
) -> None:
    dead = _kill(api, _submit(api, "Y00004"))
    _submit(api, "Y00001")

    page = api.get("/ops/deliveries", params={"state": "dead"}).json()

    assert [d["id"] for d in page["items"]] == [dead]
    assert page["items"][0]["last_error"] == "HTTP 503 from the practice"
    text = str(page)
    assert "9434765919" not in text
    assert "Taylor" not in text
    assert api.get("/ops/deliveries", params={"error": "503"}).json()["total"] == 1
    assert api.get("/ops/deliveries", params={"practice": "Y00001"}).json()["total"] == 1
    assert api.get("/ops/deliveries", params={"state": "lost"}).status_code == 422


def test_delivery_detail_shows_every_attempt(api: TestClient) -> None:
    dead = _kill(api, _submit(api, "Y00004"))

    detail = api.get(f"/ops/deliveries/{dead}").json()

    assert detail["state"] == "dead"
    assert [(a["number"], a["status_code"], a["outcome"]) for a in detail["attempts"]] == [
        (1, 503, "transient")
    ]
    assert api.get("/ops/deliveries/nope").status_code == 404


def test_replay_creates_a_linked_delivery_with_the_same_external_id(api: TestClient) -> None:
    rec_id = _submit(api, "Y00004")
    dead = _kill(api, rec_id)

    response = api.post(f"/ops/deliveries/{dead}/replay")

    assert response.status_code == 202
    new_id = response.json()["replay"]
    original = api.get(f"/ops/deliveries/{dead}").json()
    replay = api.get(f"/ops/deliveries/{new_id}").json()
    assert original["state"] == "replayed"
    assert original["replays"] == [new_id]
    assert replay["replay_of"] == dead
    assert replay["state"] == "pending"
    assert replay["external_id"] == original["external_id"] == dead
    assert api.get(f"/v1/recommendations/{rec_id}").json()["status"] == "queued"
    with _uow(api) as uow:
        kinds = [(o.kind, o.ref_id) for o in uow.session.scalars(select(OutboxMessage))]
    assert ("deliver", new_id) in kinds
    # Replaying it again is refused: the original is no longer dead.
    again = api.post(f"/ops/deliveries/{dead}/replay")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["title"] == "Conflict"
    assert "only dead deliveries are replayed" in again.json()["detail"]


def test_a_refusal_names_its_kind_and_the_id_only(api: TestClient) -> None:
    missing = api.post("/ops/deliveries/nope/replay")
    assert (missing.status_code, missing.json()["title"]) == (404, "Not found")
    assert missing.json()["detail"] == "no delivery nope"
    batch = api.get("/ops/replays/nope")
    assert (batch.status_code, batch.json()["detail"]) == (404, "no replay batch nope")
    assert api.post("/ops/replays/nope/cancel").status_code == 404


def test_bulk_replay_shows_its_plan_then_replays_in_batches(api: TestClient) -> None:
    dead = [_kill(api, _submit(api, ods)) for ods in ("Y00004", "Y00004", "Y00005")]

    plan = api.post("/ops/replays", json={"dry_run": True}).json()
    assert plan["total"] == 3
    assert plan["per_practice"] == {"Y00004": 2, "Y00005": 1}
    assert api.get("/ops/deliveries", params={"state": "dead"}).json()["total"] == 3

    started = api.post("/ops/replays", json={"practice_ods": "Y00004"}).json()
    assert started["total"] == 2
    with _uow(api) as uow:
        more = run_batch_step(uow, started["id"], now=datetime.now(UTC), size=1)
    assert more is True
    assert api.get(f"/ops/replays/{started['id']}").json()["replayed"] == 1
    with _uow(api) as uow:
        while run_batch_step(uow, started["id"], now=datetime.now(UTC), size=1):
            pass
    done = api.get(f"/ops/replays/{started['id']}").json()
    assert (done["state"], done["replayed"]) == ("finished", 2)
    states = {d: api.get(f"/ops/deliveries/{d}").json()["state"] for d in dead}
    assert sorted(states.values()) == ["dead", "replayed", "replayed"]


def test_a_cancelled_bulk_replay_stops(api: TestClient) -> None:
    for _ in range(3):
        _kill(api, _submit(api, "Y00004"))
    started = api.post("/ops/replays", json={}).json()
    with _uow(api) as uow:
        run_batch_step(uow, started["id"], now=datetime.now(UTC), size=1)

    cancelled = api.post(f"/ops/replays/{started['id']}/cancel").json()
    with _uow(api) as uow:
        more = run_batch_step(uow, started["id"], now=datetime.now(UTC), size=1)

    assert cancelled["state"] == "cancelled"
    assert more is False
    assert api.get(f"/ops/replays/{started['id']}").json()["replayed"] == 1
    assert api.get("/ops/deliveries", params={"state": "dead"}).json()["total"] == 2


def test_queues_count_per_state_and_practice_and_the_outbox_lag_is_the_oldest_jobs_age(
    api: TestClient,
) -> None:
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        _kill(api, _submit(api, "Y00004"))
        traveller.shift(timedelta(seconds=30))
        _submit(api, "Y00001")
        _submit(api, "Y00001")
        traveller.shift(timedelta(seconds=12.5))

        queues: dict[str, Any] = api.get("/ops/queues").json()

    assert queues["counts"]["dead"] == 1
    assert queues["counts"]["pending"] == 2
    by_practice = {p["practice_ods"]: p["counts"] for p in queues["practices"]}
    assert by_practice == {"Y00001": {"pending": 2}, "Y00004": {"dead": 1}}
    oldest = {p["practice_ods"]: p["oldest_pending_seconds"] for p in queues["practices"]}
    assert oldest == {"Y00001": 12.5, "Y00004": None}  # a dead delivery waits for no one
    # Nothing relays in this test, so the first submission's outbox job is still waiting:
    # the lag is its age, not the newest job's.
    assert queues["outbox_lag_seconds"] == 42.5
    assert set(queues["broker"]) == {"delivery", "poll", "notify", "control"}


def test_the_replay_command_replays_one_and_says_why_it_will_not_twice(
    api: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = _kill(api, _submit(api, "Y00004"))
    monkeypatch.setenv("LIAISON_DATABASE__URL", settings.database.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        first = runner.invoke(cli, ["replay", dead])
        second = runner.invoke(cli, ["replay", dead])
        missing = runner.invoke(cli, ["replay", "nope"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"replaying {dead} as ")
    assert api.get(f"/ops/deliveries/{dead}").json()["state"] == "replayed"
    assert second.exit_code == 1
    assert "only dead deliveries are replayed" in second.output
    assert (missing.exit_code, missing.output.strip()) == (1, "no delivery nope")
