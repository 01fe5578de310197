"""The relay reads its batch's Tasks and MedicationRequests in one statement with the
locks, so its statements do not grow with the batch, and every recommendation still moves
to "queued" with a new Task version and the old one kept for history."""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gateway.cli import sample_recommendation
from gateway.domain.retry_policy import RetryPolicy
from gateway.practice_directory import dev_directory, seed
from gateway.services import fulfilment_tracking
from gateway.services.intake import IntakeCommand, submit
from gateway.settings import BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import FhirResource
from gateway.store.unit_of_work import UnitOfWork
from workers.relay import relay_outbox
from workers.runtime import Runtime


def _unused(*_: Any) -> Any:
    raise AssertionError("the relay reaches neither GP systems nor notification channels")


@contextmanager
def _runtime(database_url: str) -> Iterator[tuple[Runtime, Engine]]:
    settings = Settings(
        database=DatabaseSettings(url=database_url), broker=BrokerSettings(url="memory://")
    )
    upgrade(database_url)
    engine = make_engine(database_url)
    rt = Runtime(
        settings=settings,
        session_factory=make_session_factory(engine),
        gp_system_for=_unused,
        channel=_unused,
        retry_policy=RetryPolicy(1, 1, 1),
    )
    with UnitOfWork(rt.session_factory) as uow:
        seed(uow, dev_directory(settings))
        uow.commit()
    try:
        yield rt, engine
    finally:
        engine.dispose()


def _submit(rt: Runtime, count: int) -> list[str]:
    body = sample_recommendation("Y00001")
    made = []
    for _ in range(count):
        with UnitOfWork(rt.session_factory) as uow:
            result = submit(
                uow, IntakeCommand("demo-app", "RX3", None, body), now=datetime.now(UTC)
            )
            made.append(result.recommendation_id)
    return made


def _relay_counting(rt: Runtime, engine: Engine) -> tuple[int, Counter[str]]:
    """Rows relayed, and the statements made by their first word (SELECT, UPDATE...)."""
    statements: Counter[str] = Counter()

    def count(*args: Any) -> None:
        statements[str(args[2]).split(None, 1)[0].upper()] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        relayed = relay_outbox(rt, lambda _kind, _ref: None)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return relayed, statements


def _statements_do_not_grow_with_the_batch(database_url: str, *, writes_batched: bool) -> None:
    with _runtime(database_url) as (rt, engine):
        first = _submit(rt, 2)
        relayed_few, few = _relay_counting(rt, engine)
        later = _submit(rt, 9)
        relayed_many, many = _relay_counting(rt, engine)
        assert (relayed_few, relayed_many) == (4, 18)  # a delivery and a notification each
        # The outbox, deliveries, locks, resources, webhook subscription and practice.
        assert many["SELECT"] == few["SELECT"] == 6
        if writes_batched:  # SQLite inserts each timeline row alone (its id is returned)
            assert many == few
        with UnitOfWork(rt.session_factory) as uow:
            for recommendation_id in [*first, *later]:
                recommendation = uow.recommendations.get(recommendation_id)
                assert recommendation is not None
                assert recommendation.status == "queued"
                resources = {
                    r.resource_type: r for r in uow.recommendations.resources_for(recommendation_id)
                }
                task = resources["Task"]
                assert task.version_id == 2
                assert task.body["businessStatus"]["coding"][0]["code"] == "queued"
                versions = uow.recommendations.resource_versions(task)
                assert [v.version_id for v in versions] == [2, 1]
                assert "businessStatus" not in versions[1].body  # intake's Task, as it was
                assert resources["MedicationRequest"].version_id == 1  # still a proposal


def test_the_relay_s_statements_do_not_grow_with_its_batch(tmp_path: Path) -> None:
    _statements_do_not_grow_with_the_batch(f"sqlite:///{tmp_path}/liaison.db", writes_batched=False)


@pytest.mark.services
def test_the_relay_s_statements_do_not_grow_with_its_batch_on_postgres(
    postgres_url: str,
) -> None:
    _statements_do_not_grow_with_the_batch(postgres_url, writes_batched=True)


def test_resources_read_with_the_locks_answer_until_the_transaction_ends(
    tmp_path: Path,
) -> None:
    with _runtime(f"sqlite:///{tmp_path}/liaison.db") as (rt, engine):
        (recommendation_id,) = _submit(rt, 1)
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(engine, "before_cursor_execute", count)
        tracked = fulfilment_tracking.TRACKED
        with UnitOfWork(rt.session_factory) as uow:
            repository = uow.recommendations
            repository.lock_many({recommendation_id, "none-such"}, resource_types=tracked)
            read = statements[0]
            held = repository.resources_for(recommendation_id, types=tracked)
            assert [r.resource_type for r in held] == ["MedicationRequest", "Task"]
            assert [
                r.resource_type for r in repository.resources_for(recommendation_id, types=["Task"])
            ] == ["Task"]
            assert statements[0] == read  # answered from what lock_many read
            # Every type, a type not read with the locks, a recommendation not locked (not
            # found): asked of the database.
            assert len(repository.resources_for(recommendation_id)) > 2
            repository.resources_for(recommendation_id, types=["Patient"])
            assert repository.resources_for("none-such", types=tracked) == []
            assert statements[0] == read + 3
            # A resource added meanwhile is not in what was read: the next call asks again.
            repository.add_resource(
                FhirResource(
                    id="extra-task",
                    resource_type="Task",
                    recommendation_id=recommendation_id,
                    body={"resourceType": "Task", "id": "extra-task"},
                )
            )
            again = repository.resources_for(recommendation_id, types=tracked)
            assert [r.id for r in again if r.resource_type == "Task"].count("extra-task") == 1
            uow.rollback()
            before = statements[0]
            # A later transaction holds no lock: it reads again.
            assert len(repository.resources_for(recommendation_id, types=tracked)) == 2
            assert statements[0] > before
        event.remove(engine, "before_cursor_execute", count)
