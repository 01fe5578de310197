"""Real parts for the notification and follow-up tests: a migrated database, the SMTP mail
sink, the GOV.UK Notify sink, the GP simulator, and a worker Runtime wired to them.

Everything runs in this process on loopback ports, so tests can time-travel
(time-machine) across the worker code and the peers alike.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as clock_time
from typing import Any

import httpx

from adapters.standins.gp_simulator.app import create_app as create_simulator
from adapters.standins.mail_sink import MailSink
from adapters.standins.notify_sink import create_notify_sink_app
from gateway.api.v1.schemas import RecommendationIn
from gateway.cli import sample_recommendation
from gateway.domain.retry_policy import RetryPolicy
from gateway.practice_directory import dev_directory, seed
from gateway.services import intake
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import (
    DEV_NOTIFY_SECRET,
    DEV_NOTIFY_SERVICE_ID,
    AudienceSettings,
    BrokerSettings,
    DatabaseSettings,
    DeliverySettings,
    DevelopmentSettings,
    EmailSettings,
    NotifySettings,
    Settings,
)
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork
from tests.conftest import started_mail_sink
from tests.peers.servers import serve_in_thread
from tests.settings_support import merged
from workers import notifying
from workers.runtime import Runtime, channel_factory, gp_system_factory, webhook_factory

# Serve an ASGI app in a thread on a port it binds itself; yields its base URL.
serve = serve_in_thread


@dataclass
class Peers:
    mail: MailSink
    smtp_port: int
    notify_url: str
    simulator_port: int

    def texts(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(f"{self.notify_url}/_sink/messages").json()
        return found

    def fail_next_text(self, status_code: int, count: int = 1) -> None:
        httpx.post(
            f"{self.notify_url}/_sink/fail-next",
            json={"status_code": status_code, "count": count},
        ).raise_for_status()

    def simulator_received(self) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.simulator_port}/_sim/received"
        found: list[dict[str, Any]] = httpx.get(url).json()
        return found

    def reset(self) -> None:
        self.mail.clear()
        httpx.post(f"{self.notify_url}/_sink/reset").raise_for_status()
        httpx.post(f"http://127.0.0.1:{self.simulator_port}/_sim/reset").raise_for_status()


@contextmanager
def running_peers() -> Iterator[Peers]:
    notify_app = create_notify_sink_app(
        service_id=DEV_NOTIFY_SERVICE_ID, api_secret=DEV_NOTIFY_SECRET
    )
    # Long steps: the tests, not the simulator's clock, move requests along.
    simulator = create_simulator(step_seconds=3600)
    with (
        # Each binds its port itself (or picks again if it was taken): no port race.
        started_mail_sink() as mail,
        serve_in_thread(notify_app) as notify_url,
        serve_in_thread(simulator) as simulator_url,
    ):
        port = int(simulator_url.rsplit(":", 1)[1])
        yield Peers(mail, mail.port, notify_url, port)


def make_runtime(database_url: str, peers: Peers, **overrides: Any) -> Runtime:
    """A migrated, seeded database and a Runtime whose channels reach the peers. Quiet
    hours are off unless a test asks for them."""
    options: dict[str, Any] = {
        "database": DatabaseSettings(url=database_url),
        "broker": BrokerSettings(url="memory://"),
        "email": EmailSettings(smtp_port=peers.smtp_port),
        "notify": NotifySettings(base_url=peers.notify_url),
        "development": DevelopmentSettings(simulator_port=peers.simulator_port),
        "audience": AudienceSettings(
            quiet_hours_start=clock_time(0), quiet_hours_end=clock_time(0)
        ),
        "delivery": DeliverySettings(retry_base_seconds=1.0, retry_cap_seconds=2.0),
    }
    settings = Settings(**merged(options, overrides))
    upgrade(settings.database.url)
    session_factory = make_session_factory(make_engine(settings.database.url))
    with UnitOfWork(session_factory) as uow:
        seed(uow, dev_directory(settings))
    return Runtime(
        settings=settings,
        session_factory=session_factory,
        gp_system_for=gp_system_factory(settings),
        channel=channel_factory(settings),
        retry_policy=RetryPolicy(
            settings.delivery.retry_base_seconds,
            settings.delivery.retry_cap_seconds,
            settings.delivery.retry_budget_seconds,
        ),
        webhook=webhook_factory(5.0, settings.webhooks.allowed_hosts),
    )


def submit(rt: Runtime, ods_code: str = "Y00001", **changes: Any) -> str:
    """Accept a sample recommendation as the API would; `changes` replace top-level parts."""
    body = RecommendationIn.model_validate({**sample_recommendation(ods_code), **changes})
    with UnitOfWork(rt.session_factory) as uow:
        result = intake.submit(
            uow,
            intake.IntakeCommand(
                client_id="demo-app",
                organisation_ods="RX3",
                idempotency_key=None,
                payload=body.model_dump(mode="json"),
            ),
            now=datetime.now(UTC),
        )
    return result.recommendation_id


def queued_notifications(rt: Runtime) -> list[str]:
    """Notification ids the relay would publish now (and mark them published)."""
    with UnitOfWork(rt.session_factory) as uow:
        rows = [(row.id, row.kind, row.ref_id) for row in uow.outbox.unpublished(limit=1000)]
        uow.outbox.mark_published([row_id for row_id, _, _ in rows], at=datetime.now(UTC))
        uow.commit()
    return [ref for _, kind, ref in rows if kind == "notify"]


def run_notify_tasks(rt: Runtime, ids: list[str], *, times: int = 1) -> list[str]:
    """Run the notify task for each id `times` times over, as a redelivering broker would."""
    return [notifying.send_notification(rt, nid) for _ in range(times) for nid in ids]


def walk(rt: Runtime, rec_id: str, *statuses: str) -> None:
    """Move the recommendation through `statuses`, as the practice's answers would."""
    with UnitOfWork(rt.session_factory) as uow:
        for status in statuses:
            change = StatusChange(rec_id, status, source="poll")
            assert apply_status(uow, change, now=datetime.now(UTC)), status
        uow.commit()
