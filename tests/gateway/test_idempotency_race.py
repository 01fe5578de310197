"""Two identical POSTs at the same instant with one Idempotency-Key create one recommendation.
The unique key in the database decides, not a check before the insert."""

import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.api.app import create_app
from gateway.cli import sample_recommendation
from gateway.practice_directory import dev_directory, seed
from gateway.security.tokens import issue_token
from gateway.settings import BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Recommendation
from gateway.store.unit_of_work import UnitOfWork

RACERS = 6


def _race(database_url: str) -> tuple[list[httpx.Response], int]:
    settings = Settings(
        database=DatabaseSettings(url=database_url), broker=BrokerSettings(url="memory://")
    )
    upgrade(database_url)
    engine = make_engine(database_url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
    app = create_app(settings)
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "race-1"}
    barrier = threading.Barrier(RACERS)
    responses: list[httpx.Response] = []

    def post() -> None:
        with TestClient(app) as client:
            barrier.wait()
            responses.append(
                client.post(
                    "/v1/recommendations", json=sample_recommendation("Y00001"), headers=headers
                )
            )

    threads = [threading.Thread(target=post) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with make_session_factory(engine)() as session:
        count = int(session.scalar(select(func.count()).select_from(Recommendation)) or 0)
    engine.dispose()
    app.state.engine.dispose()
    return responses, count


def _assert_one(responses: list[httpx.Response], count: int) -> None:
    assert [r.status_code for r in responses] == [202] * RACERS
    assert len({r.json()["id"] for r in responses}) == 1
    assert count == 1


def test_simultaneous_duplicates_make_one_recommendation_on_sqlite(tmp_path: Path) -> None:
    _assert_one(*_race(f"sqlite:///{tmp_path}/race.db"))


@pytest.mark.services
def test_simultaneous_duplicates_make_one_recommendation_on_postgres(postgres_url: str) -> None:
    _assert_one(*_race(postgres_url))
