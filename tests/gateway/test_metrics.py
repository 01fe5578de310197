"""/metrics: who may scrape it, gauges read from the database, counters moved by the real
worker functions, and counts from several processes added up through the shared directory.
(tests/e2e/test_console_browser.py scrapes it after an end-to-end run of real processes.)"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from adapters.errors import PermanentAdapterError, RateLimited, TransientAdapterError
from gateway import metrics
from gateway.cli import sample_recommendation
from gateway.security.tokens import issue_token
from gateway.settings import BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Delivery, Practice
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import Peers, make_runtime, queued_notifications, running_peers, submit
from workers import delivery, notifying

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def _ops_token(settings: Settings) -> str:
    return issue_token(settings, client_id="prometheus", organisation_ods="X26", scopes=("ops",))


def test_metrics_need_an_ops_token_or_the_scrape_token(api: TestClient, settings: Settings) -> None:
    no_token = api.get("/metrics", headers={"Authorization": ""})
    assert no_token.status_code == 401
    app_only = issue_token(
        settings, client_id="case-app", organisation_ods="RX3", scopes=("recommendations",)
    )
    assert api.get("/metrics", headers={"Authorization": f"Bearer {app_only}"}).status_code == 403
    scraped = api.get("/metrics", headers={"Authorization": f"Bearer {_ops_token(settings)}"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "liaison_database_up 1.0" in scraped.text

    fixed = "scrape-" + "x" * 40
    api.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={"metrics": settings.metrics.model_copy(update={"token": fixed})}
    )
    assert api.get("/metrics", headers={"Authorization": f"Bearer {fixed}"}).status_code == 200
    wrong = api.get("/metrics", headers={"Authorization": "Bearer scrape-wrong"})
    assert wrong.status_code == 401


def test_gauges_come_from_the_database(api: TestClient, settings: Settings) -> None:
    ids = [
        api.post("/v1/recommendations", json=sample_recommendation(ods)).json()["id"]
        for ods in ("Y00001", "Y00001", "Y00004")
    ]
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        dead = uow.session.scalars(
            select(Delivery).where(Delivery.recommendation_id == ids[2])
        ).one()
        dead.state = "dead"
        practice = uow.session.get(Practice, "Y00004")
        assert practice is not None
        practice.breaker_state, practice.breaker_failures = "open", 6
        uow.commit()

    text = api.get("/metrics", headers={"Authorization": f"Bearer {_ops_token(settings)}"}).text
    found = samples(text)

    assert value(found, "liaison_deliveries", practice="Y00001", state="pending") == 2
    assert value(found, "liaison_deliveries", practice="Y00004", state="dead") == 1
    assert value(found, "liaison_delivery_oldest_waiting_seconds", practice="Y00001") > 0
    assert ("liaison_delivery_oldest_waiting_seconds", frozenset({("practice", "Y00004")})) not in (
        found
    )
    # Nothing relays the outbox in this test: its oldest job keeps ageing.
    assert value(found, "liaison_outbox_lag_seconds") > 0
    assert value(found, "liaison_practice_circuit_state", practice="Y00004", state="open") == 1
    assert value(found, "liaison_practice_circuit_state", practice="Y00004", state="closed") == 0
    assert value(found, "liaison_practice_circuit_state", practice="Y00001", state="closed") == 1
    assert value(found, "liaison_practice_circuit_failures", practice="Y00004") == 6
    assert value(found, "liaison_queue_depth", queue="delivery") == 0
    assert value(found, "liaison_alerts_firing", rule="circuit-open") == 0
    for secret in ("9434765919", "Taylor", "sam@example.org"):
        assert secret not in text


@pytest.fixture
def peers() -> Iterator[Peers]:
    with running_peers() as found:
        yield found


def test_worker_functions_move_the_counters(tmp_path: Path, peers: Peers) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path}/m.db", peers)

    def scrape() -> Samples:
        return samples(metrics.render(rt.session_factory, "memory://", shared=None).decode())

    before = scrape()
    delivered_rec, failing_rec = submit(rt, "Y00001"), submit(rt, "Y00004")
    with UnitOfWork(rt.session_factory) as uow:
        ok, failing = (
            uow.deliveries.for_recommendation(r)[0].id for r in (delivered_rec, failing_rec)
        )
    assert delivery.deliver(rt, ok) == "delivered"
    assert delivery.deliver(rt, failing) == "retrying"
    sent = [notifying.send_notification(rt, n) for n in queued_notifications(rt)]
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    attempts = "liaison_delivery_attempts_total"
    assert moved(attempts, adapter="simulator", outcome="success") == 1
    assert moved(attempts, adapter="simulator", outcome="transient") == 1
    assert (
        moved("liaison_delivery_failures_total", adapter="simulator", error_class="http-5xx") == 1
    )
    assert moved("liaison_intake_to_delivered_seconds_count") == 1
    assert moved("liaison_intake_to_ready_seconds_count") == 0
    # "delivered" is an event only the practitioner hears of, by email.
    assert sent.count("sent") >= 1
    assert moved("liaison_notifications_total", channel="email", outcome="sent") == sent.count(
        "sent"
    )
    assert value(after, "liaison_deliveries", practice="Y00001", state="delivered") == 1
    assert value(after, "liaison_deliveries", practice="Y00004", state="retrying") == 1


@pytest.mark.parametrize(
    ("error", "outcome", "error_class"),
    [
        (None, "success", None),
        (TransientAdapterError("HTTP 503", status_code=503), "transient", "http-5xx"),
        (TransientAdapterError("timed out"), "transient", "transient"),
        (RateLimited("slow down", retry_after=30), "rate-limited", "rate-limited"),
        (PermanentAdapterError("HTTP 422", status_code=422), "permanent", "http-4xx"),
        (PermanentAdapterError("MESH: unknown mailbox"), "permanent", "permanent"),
    ],
)
def test_attempts_are_classified_with_few_label_values(
    error: Any, outcome: str, error_class: str | None
) -> None:
    assert metrics.attempt_outcome(error) == outcome
    if error is not None:
        assert metrics.error_class(error) == error_class


def test_counts_from_several_processes_add_up_in_the_shared_directory(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    # Each process is what a Celery child or the API is: it counts into its own file.
    script = (
        "from gateway import metrics\n"
        "from gateway.settings import MetricsSettings, Settings\n"
        f"metrics.share_across_processes(Settings(metrics=MetricsSettings(dir={str(shared)!r})))\n"
        "from adapters.errors import TransientAdapterError\n"
        "metrics.record_attempt('mesh', TransientAdapterError('down', status_code=503))\n"
        "metrics.record_notification('sms', 'sent')\n"
        "from datetime import datetime, timedelta, UTC\n"
        "now = datetime.now(UTC)\n"
        "metrics.record_status('ready-to-collect', since_intake=now - timedelta(hours=5), at=now)\n"
    )
    for _ in range(3):
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(list(shared.glob("*.db"))) >= 3

    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/empty.db"),
        broker=BrokerSettings(url="memory://"),
    )
    upgrade(settings.database.url)
    text = metrics.render(
        make_session_factory(make_engine(settings.database.url)), "memory://", shared=shared
    ).decode()
    found = samples(text)

    assert value(found, "liaison_delivery_attempts_total", adapter="mesh", outcome="transient") == 3
    assert (
        value(found, "liaison_delivery_failures_total", adapter="mesh", error_class="http-5xx") == 3
    )
    assert value(found, "liaison_notifications_total", channel="sms", outcome="sent") == 3
    assert value(found, "liaison_intake_to_ready_seconds_count") == 3
    assert value(found, "liaison_intake_to_ready_seconds_bucket", le="14400.0") == 0
    assert value(found, "liaison_intake_to_ready_seconds_bucket", le="43200.0") == 3
    assert value(found, "liaison_database_up") == 1
