"""Delivery and polling through the real worker functions against the GP simulator over
HTTP: calls per poll cycle follow practices and pages (1,000 outstanding requests across 10
practices), and per-practice isolation defers work without spending the retry budget."""

import asyncio
import json
import math
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.standins.gp_simulator import create_app
from fhir_profiles import systems
from gateway.cli import sample_recommendation
from gateway.domain.retry_policy import RetryPolicy
from gateway.practice_directory import PracticeSettings, write_practice
from gateway.services.intake import IntakeCommand, submit
from gateway.services.practice_access import IN_FLIGHT_RETRY_SECONDS
from gateway.settings import (
    AdapterRetry,
    BrokerSettings,
    DatabaseSettings,
    DeliverySettings,
    Settings,
)
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import FhirResource, Recommendation
from gateway.store.unit_of_work import UnitOfWork
from tests.peers.servers import serve_in_thread
from workers import delivery, polling, relay
from workers.runtime import Runtime, gp_system_factory

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
STEP = 60.0
# 1,000 outstanding requests across 10 practices, unevenly, so some need several pages.
LOAD = {
    f"P{n:04d}": count for n, count in enumerate((250, 150, 100, 100, 100, 100, 50, 50, 50, 50))
}
PAGE = 100  # FhirRestGPSystem's page size


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    rt: Runtime
    sim_url: str
    clock: Clock
    store: Any  # the simulator's in-memory store

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(f"{self.sim_url}/_sim/stats", timeout=5).json()
        return found

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.rt.session_factory)

    def add_practice(self, ods: str, **options: Any) -> None:
        entry = PracticeSettings(adapter="simulator", base_url=f"{self.sim_url}/fhir", **options)
        with self.uow() as uow:
            write_practice(uow, ods, entry, source="api")
            uow.commit()

    def recommend(self, ods: str) -> str:
        """A new recommendation through intake; returns its delivery id."""
        with self.uow() as uow:
            result = submit(
                uow,
                IntakeCommand("demo-app", "RX3", str(uuid.uuid4()), sample_recommendation(ods)),
                now=datetime.now(UTC),
            )
            [row] = uow.deliveries.for_recommendation(result.recommendation_id)
            return row.id

    def copies(self, delivery_id: str, count: int) -> list[dict[str, Any]]:
        """`count` more recommendations like the one behind `delivery_id`, written straight
        to the store as delivered (intake validates every resource and a worker records every
        attempt: too slow for a thousand here). Returns the Bundles to hand the practice."""
        bundles: list[dict[str, Any]] = []
        with self.uow() as uow:
            original = uow.deliveries.get(delivery_id)
            assert original is not None
            rec = uow.recommendations.get(original.recommendation_id)
            assert rec is not None
            resources = uow.recommendations.resources_for(rec.id)
            for _ in range(count):
                new_id = str(uuid.uuid4())
                ids = {rec.id: new_id}
                ids.update(
                    {r.id: str(uuid.uuid5(uuid.UUID(new_id), r.resource_type)) for r in resources}
                )
                bodies = {r.resource_type: _renamed(r.body, ids) for r in resources}
                uow.recommendations.add(
                    Recommendation(
                        id=new_id,
                        organisation_ods=rec.organisation_ods,
                        client_id=rec.client_id,
                        practitioner_id=rec.practitioner_id,
                        practice_ods=rec.practice_ods,
                        product=rec.product,
                        status="delivered",
                        payload=rec.payload,
                    )
                )
                uow.session.flush()
                for resource_type, body in bodies.items():
                    uow.recommendations.add_resource(
                        FhirResource(
                            id=body["id"],
                            resource_type=resource_type,
                            recommendation_id=new_id,
                            body=body,
                        )
                    )
                bundles.append(_transaction(list(bodies.values()), delivery_id=new_id))
            uow.commit()
        return bundles


def _transaction(resources: list[dict[str, Any]], *, delivery_id: str) -> dict[str, Any]:
    """The shape of a delivery as the simulator stores it: conditional creates in a
    transaction (fhir_profiles.builders makes the real one; the worker sends one per practice
    below)."""
    condition = f"identifier={systems.DELIVERY_ID}|{delivery_id}"
    entries = []
    for resource in resources:
        body = {k: v for k, v in resource.items() if k != "id"}
        body["identifier"] = [
            *body.get("identifier", []),
            {"system": systems.DELIVERY_ID, "value": delivery_id},
        ]
        entries.append(
            {
                "fullUrl": f"urn:uuid:{resource['id']}",
                "resource": body,
                "request": {
                    "method": "POST",
                    "url": resource["resourceType"],
                    "ifNoneExist": condition,
                },
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _renamed(body: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(body)
    for old, new in ids.items():
        text = text.replace(old, new)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@contextmanager
def _world(tmp_path: Path, database_url: str) -> Iterator[World]:
    clock = Clock()
    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=database_url),
        broker=BrokerSettings(url="memory://"),
        delivery=DeliverySettings(
            breaker_failure_threshold=2, breaker_open_seconds=300, http_timeout_seconds=5
        ),
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
    app = create_app(step_seconds=STEP, clock=clock)
    try:
        with serve_in_thread(app) as url:
            yield World(rt, url, clock, app.state.store)
    finally:
        engine.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with _world(tmp_path, f"sqlite:///{tmp_path}/liaison.db") as running:
        yield running


def test_a_poll_cycle_costs_one_search_per_page_per_practice(world: World) -> None:
    for ods in LOAD:
        world.add_practice(ods)
    for ods, count in LOAD.items():
        first = world.recommend(ods)
        assert delivery.deliver(world.rt, first) == "delivered"  # the worker's own path
        for bundle in world.copies(first, count - 1):
            world.store.transact(bundle)  # the rest straight into the practice's store

    before = world.stats()["searches"]
    practices = polling.practices_to_poll(world.rt)
    assert sorted(practices) == sorted(LOAD)
    assert sum(polling.poll_practice(world.rt, ods) for ods in practices) == 0  # none moved yet
    searches = world.stats()["searches"] - before
    pages = sum(math.ceil(count / PAGE) for count in LOAD.values())
    assert searches == pages == 13  # for 1,000 outstanding requests: one per page per practice
    assert searches <= len(LOAD) * math.ceil(max(LOAD.values()) / PAGE)

    # The next cycle asks each practice only for what changed since its cursor.
    again = world.stats()["searches"]
    assert sum(polling.poll_practice(world.rt, ods) for ods in practices) == 0
    assert world.stats()["searches"] - again == len(LOAD)

    # When a practice moves its requests on, the cycle applies them from the same searches.
    world.clock.now += timedelta(seconds=STEP)
    before = world.stats()["searches"]
    assert polling.poll_practice(world.rt, "P0006") == LOAD["P0006"]
    assert world.stats()["searches"] - before == 1
    with world.uow() as uow:
        _, total = uow.recommendations.search(
            organisation_ods="RX3", practice_ods="P0006", status="accepted", limit=100
        )
        assert total == LOAD["P0006"]


def test_an_open_breaker_defers_deliveries_without_spending_the_budget(world: World) -> None:
    world.add_practice("Y00004")  # the simulator answers 503 to everything
    world.add_practice("Y00001")
    failing = [world.recommend("Y00004") for _ in range(3)]
    healthy = world.recommend("Y00001")

    assert delivery.deliver(world.rt, failing[0]) == "retrying"
    assert delivery.deliver(world.rt, failing[1]) == "retrying"  # second failure: open
    posts = world.stats()["posts"]
    assert delivery.deliver(world.rt, failing[2]) == "deferred"
    assert world.stats()["posts"] == posts  # the practice was not called
    with world.uow() as uow:
        deferred = uow.deliveries.get(failing[2])
        assert deferred is not None
        assert (deferred.state, deferred.attempt_count, deferred.first_attempt_at) == (
            "retrying",
            0,
            None,
        )
        assert uow.deliveries.attempts(failing[2]) == []
        assert deferred.next_attempt_at is not None
        assert deferred.next_attempt_at > datetime.now(UTC) + timedelta(seconds=250)
        practice = uow.practices.get("Y00004")
        assert practice is not None
        assert practice.breaker_state == "open"
    # Another practice is not affected.
    assert delivery.deliver(world.rt, healthy) == "delivered"


def test_no_task_waits_in_the_queue_for_a_practice_whose_breaker_is_open(world: World) -> None:
    world.add_practice("Y00004")  # answers 503 to everything
    world.add_practice("Y00001")
    for failing in (world.recommend("Y00004"), world.recommend("Y00004")):
        delivery.deliver(world.rt, failing)  # the second failure opens the breaker (300 s)
    waiting = [world.recommend("Y00004") for _ in range(3)]
    healthy = world.recommend("Y00001")

    published: list[str] = []
    while relay.relay_outbox(world.rt, lambda _kind, ref: published.append(ref)):
        pass
    # The healthy practice's delivery goes to the workers; the down practice's wait in the
    # database for the breaker, without an attempt or any of their retry budget spent.
    assert healthy in published
    assert not set(waiting) & set(published)
    with world.uow() as uow:
        for delivery_id in waiting:
            held = uow.deliveries.get(delivery_id)
            assert held is not None
            assert (held.state, held.attempt_count, held.first_attempt_at) == ("retrying", 0, None)
            assert held.next_attempt_at is not None
            assert held.next_attempt_at > datetime.now(UTC) + timedelta(seconds=250)
        # The open period ends: the sweep hands over one of them, the probe, not all.
        past = datetime.now(UTC) - timedelta(seconds=301)
        practice = uow.practices.get("Y00004")
        assert practice is not None
        practice.breaker_opened_at = past
        for delivery_id in waiting:
            held = uow.deliveries.get(delivery_id)
            assert held is not None
            held.next_attempt_at = past
        uow.commit()
    swept: list[str] = []
    relay.sweep(world.rt, lambda _kind, ref: swept.append(ref))
    assert len(set(swept) & set(waiting)) == 1


def test_an_adapter_kinds_own_retry_policy_governs_its_deliveries(world: World) -> None:
    world.add_practice("Y00004")  # a simulator practice that answers 503 to everything
    lenient, strict = world.recommend("Y00004"), world.recommend("Y00004")
    delivery.deliver(world.rt, lenient)  # the global policy: a 3,600 s budget
    # LIAISON_DELIVERY__RETRY_POLICIES='{"simulator": {"budget_seconds": 0.001}}'
    settings = world.rt.settings.model_copy(
        update={
            "delivery": world.rt.settings.delivery.model_copy(
                update={"retry_policies": {"simulator": AdapterRetry(budget_seconds=0.001)}}
            )
        }
    )
    rt = replace(world.rt, settings=settings)
    delivery.deliver(rt, strict)
    with world.uow() as uow:
        first, second = uow.deliveries.get(lenient), uow.deliveries.get(strict)
        assert first is not None
        assert second is not None
        assert first.state == "retrying"
        assert (second.state, second.attempt_count) == ("dead", 1)
        last = uow.recommendations.timeline(second.recommendation_id)[-1]
        assert (last.status, last.detail) == (
            "delivery-failed",
            "retry budget spent: POST /fhir answered 503",
        )
    # Fields left out, and other adapter kinds, keep the global policy.
    assert rt.delivery_retry_policy("simulator") == RetryPolicy(1, 2, 0.001)
    assert rt.delivery_retry_policy("mesh") == world.rt.retry_policy


def test_a_practice_over_its_rate_limit_waits_its_turn(world: World) -> None:
    world.add_practice("Y00001", rate_limit_per_minute=2)
    first, second, third = (world.recommend("Y00001") for _ in range(3))
    assert delivery.deliver(world.rt, first) == "delivered"
    assert delivery.deliver(world.rt, second) == "delivered"
    assert delivery.deliver(world.rt, third) == "deferred"
    with world.uow() as uow:
        waiting = uow.deliveries.get(third)
        assert waiting is not None
        assert waiting.attempt_count == 0
        assert waiting.next_attempt_at is not None
        # At 2 a minute the next call may go about 30 s later.
        wait = (waiting.next_attempt_at - datetime.now(UTC)).total_seconds()
        assert 20 < wait <= 31


def test_a_practice_with_deliveries_in_flight_gets_no_more_workers(world: World) -> None:
    world.add_practice("Y00001", max_in_flight=1)
    busy, queued = world.recommend("Y00001"), world.recommend("Y00001")
    with world.uow() as uow:  # a worker holds `busy` (e.g. the practice is slow)
        assert uow.deliveries.claim(busy, now=datetime.now(UTC), lease=timedelta(minutes=2))
        uow.commit()
    posts = world.stats()["posts"]
    turned_away = datetime.now(UTC)
    # Returns while `busy` is still held: the worker does not wait for the slot.
    assert delivery.deliver(world.rt, queued) == "deferred"
    answered = datetime.now(UTC)
    assert world.stats()["posts"] == posts  # the practice was not called
    with world.uow() as uow:
        held = uow.deliveries.get(queued)
        assert held is not None
        # No attempt and no budget spent; put back in the database for shortly after, so
        # the worker is free for another practice at once.
        assert (held.state, held.attempt_count, held.first_attempt_at) == ("retrying", 0, None)
        assert uow.deliveries.attempts(queued) == []
        assert held.next_attempt_at is not None
        asked_at = held.next_attempt_at - timedelta(seconds=IN_FLIGHT_RETRY_SECONDS)
        assert turned_away <= asked_at <= answered
        # The slot frees (the worker holding `busy` lets its lease go) and the wait is over.
        holder = uow.deliveries.get(busy)
        assert holder is not None
        holder.lease_until = held.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
        uow.commit()
    assert delivery.deliver(world.rt, queued) == "delivered"
    assert world.stats()["posts"] == posts + 1


class SlowPractice:
    """A FHIR endpoint that takes half a second per transaction, counting how many it is
    handling at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.5)
        finally:
            with self.lock:
                self.now -= 1
        body = {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": {"status": "201 Created", "location": "Task/1/_history/1"}}],
        }
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/fhir+json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def _concurrent_workers_respect_the_in_flight_limit(world: World) -> None:
    slow = SlowPractice()
    with serve_in_thread(slow) as url:
        entry = PracticeSettings(adapter="fhir", base_url=f"{url}/fhir", max_in_flight=2)
        with world.uow() as uow:
            write_practice(uow, "S00001", entry, source="api")
            uow.commit()
        pending = [world.recommend("S00001") for _ in range(8)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(lambda d: delivery.deliver(world.rt, d), pending))
    assert slow.most <= 2  # never more than the practice's limit at once
    assert set(outcomes) <= {"delivered", "deferred"}
    assert outcomes.count("delivered") >= 2
    with world.uow() as uow:
        for delivery_id, outcome in zip(pending, outcomes, strict=True):
            attempts = uow.deliveries.attempts(delivery_id)
            assert len(attempts) == (1 if outcome == "delivered" else 0)


def test_concurrent_workers_respect_the_in_flight_limit(world: World) -> None:
    _concurrent_workers_respect_the_in_flight_limit(world)


@pytest.mark.services
def test_concurrent_workers_respect_the_in_flight_limit_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    with _world(tmp_path, postgres_url) as world:
        _concurrent_workers_respect_the_in_flight_limit(world)
