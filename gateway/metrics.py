"""Prometheus metrics, served by the API at /metrics.

Two kinds, so that every process tells the same story:

- **State, read from the database at scrape time** (`DatabaseCollector`): deliveries by
  practice and state, the oldest waiting delivery, outbox lag, broker queue depth, each
  practice's circuit breaker, alerts firing. Any API process gives the same numbers, and
  nothing is lost when a worker restarts.
- **Events, counted where they happen**: delivery attempts and failures by adapter and error
  class, time from intake to delivered and to ready-to-collect, notifications by channel and
  outcome. Workers and the API count them; the processes of one machine share a directory
  (prometheus-client's multiprocess mode, `LIAISON_METRICS__DIR`), and the API's /metrics
  adds up every process's files, so a worker's counts appear there. `liaison api`, `worker`,
  `beat` and `dev` set the directory up (`share_across_processes`); a process not started by
  the `liaison` command counts only for itself unless `PROMETHEUS_MULTIPROC_DIR` is set.

Labels carry ODS codes, adapter names, channels and states: never a patient identifier.
"""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited
from gateway.domain import delivery_states
from gateway.domain.alert_rules import RULES
from gateway.queue_depth import queue_depths
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WAITING = delivery_states.WAITING
BREAKER_STATES = ("closed", "open", "half-open")
# From seconds (a healthy FHIR endpoint) to a fortnight (a practice that sits on a request).
TIME_BUCKETS = (
    1.0,
    5.0,
    15.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4 * 3600.0,
    12 * 3600.0,
    86400.0,
    2 * 86400.0,
    3 * 86400.0,
    7 * 86400.0,
    14 * 86400.0,
)
_SINCE_INTAKE = {
    "delivered": "to_delivered",
    "ready-to-collect": "to_ready",
}

# Counters live in this registry (not prometheus-client's global one) so /metrics shows
# Liaison's own series, once.
_registry = CollectorRegistry(auto_describe=True)
_shared: dict[str, Path] = {}


@dataclass(frozen=True)
class _Instruments:
    attempts: Counter
    failures: Counter
    to_delivered: Histogram
    to_ready: Histogram
    notifications: Counter
    lookups: Counter


@lru_cache(maxsize=1)
def _instruments() -> _Instruments:
    # Built on first use, after `share_across_processes` has chosen where values live.
    return _Instruments(
        attempts=Counter(
            "liaison_delivery_attempts",
            "Delivery attempts made to GP systems, by adapter and outcome.",
            ["adapter", "outcome"],
            registry=_registry,
        ),
        failures=Counter(
            "liaison_delivery_failures",
            "Failed delivery attempts, by adapter and error class.",
            ["adapter", "error_class"],
            registry=_registry,
        ),
        to_delivered=Histogram(
            "liaison_intake_to_delivered_seconds",
            "Time from a recommendation's intake to its delivery to the GP practice.",
            buckets=TIME_BUCKETS,
            registry=_registry,
        ),
        to_ready=Histogram(
            "liaison_intake_to_ready_seconds",
            "Time from a recommendation's intake to its prescription being ready to collect.",
            buckets=TIME_BUCKETS,
            registry=_registry,
        ),
        notifications=Counter(
            "liaison_notifications",
            "Notifications to practitioners, service users and apps, by channel and outcome.",
            ["channel", "outcome"],
            registry=_registry,
        ),
        lookups=Counter(
            "liaison_registry_lookups",
            "Look-ups of PDS (registered practice) and ODS (practice state), by outcome.",
            ["service", "outcome"],
            registry=_registry,
        ),
    )


def attempt_outcome(error: AdapterError | None) -> str:
    if error is None:
        return "success"
    if isinstance(error, PermanentAdapterError):
        return "permanent"
    if isinstance(error, RateLimited):
        return "rate-limited"
    return "transient"


def error_class(error: AdapterError) -> str:
    """A small, fixed set of values: HTTP status families, rate limiting, or the adapter
    error kind when no status came back (timeouts, refused connections, MESH errors)."""
    if isinstance(error, RateLimited):
        return "rate-limited"
    if error.status_code is not None and 100 <= error.status_code <= 599:
        return f"http-{error.status_code // 100}xx"
    return "permanent" if isinstance(error, PermanentAdapterError) else "transient"


def record_attempt(adapter: str, error: AdapterError | None) -> None:
    instruments = _instruments()
    instruments.attempts.labels(adapter=adapter, outcome=attempt_outcome(error)).inc()
    if error is not None:
        instruments.failures.labels(adapter=adapter, error_class=error_class(error)).inc()


def record_lookup(service: str, error: AdapterError | None) -> None:
    """One call to PDS or ODS ("pds" | "ods"), with the same outcome words as attempts."""
    _instruments().lookups.labels(service=service, outcome=attempt_outcome(error)).inc()


def record_status(status: str, *, since_intake: datetime, at: datetime) -> None:
    """Time how long a recommendation took to reach `status`, if it is one that is timed."""
    name = _SINCE_INTAKE.get(status)
    if name is None:
        return
    histogram: Histogram = getattr(_instruments(), name)
    histogram.observe(max(0.0, (at - since_intake).total_seconds()))


def record_notification(channel: str, status: str) -> None:
    """`status` as the notification was left: sent | failed | pending (to be retried) |
    superseded (no longer true when its time came)."""
    outcome = "retrying" if status == "pending" else status
    _instruments().notifications.labels(channel=channel, outcome=outcome).inc()


def share_across_processes(settings: Settings, *, fresh: bool = False) -> Path:
    """Count into the machine's shared directory from now on (and in processes started
    from this one). `fresh` empties it first: only when no other Liaison process runs."""
    path = settings.metrics_path.resolve()
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    # prometheus-client reads the directory from the environment, in this process and in
    # the Celery processes the CLI execs.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    _shared["path"] = path
    return path


def shared_directory() -> Path | None:
    return _shared.get("path")


class DatabaseCollector(Collector):
    """Gauges read from the database (and the broker) when /metrics is scraped."""

    def __init__(self, session_factory: sessionmaker[Session], broker_url: str) -> None:
        self._session_factory = session_factory
        self._broker_url = broker_url

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "liaison_database_up", "Whether /metrics could read Liaison's database."
        )
        try:
            families = list(self._from_database())
        except Exception:  # a scrape must still answer, and say the database is the problem
            up.add_metric([], 0.0)
            yield up
        else:
            up.add_metric([], 1.0)
            yield up
            yield from families
        depth = GaugeMetricFamily(
            "liaison_queue_depth", "Messages waiting in each broker queue.", labels=["queue"]
        )
        for queue, count in queue_depths(self._broker_url).items():
            if count is not None:
                depth.add_metric([queue], float(count))
        yield depth

    def _from_database(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        deliveries = GaugeMetricFamily(
            "liaison_deliveries",
            "Deliveries by GP practice and state.",
            labels=["practice", "state"],
        )
        oldest = GaugeMetricFamily(
            "liaison_delivery_oldest_waiting_seconds",
            "Age of the oldest delivery still waiting (pending, in flight or retrying).",
            labels=["practice"],
        )
        breaker = GaugeMetricFamily(
            "liaison_practice_circuit_state",
            "Each practice's circuit breaker: 1 for its current state, 0 for the others.",
            labels=["practice", "state"],
        )
        failures = GaugeMetricFamily(
            "liaison_practice_circuit_failures",
            "Consecutive failed calls counted by each practice's circuit breaker.",
            labels=["practice"],
        )
        firing = GaugeMetricFamily(
            "liaison_alerts_firing", "Alerts raised and not yet resolved.", labels=["rule"]
        )
        with UnitOfWork(self._session_factory) as uow:
            waiting_since: dict[str, datetime] = {}
            for ods, state, count, first in uow.delivery_search.counts():
                deliveries.add_metric([ods, state], float(count))
                if state in WAITING and first is not None:
                    earliest = waiting_since.get(ods)
                    waiting_since[ods] = first if earliest is None else min(earliest, first)
            for ods, since in sorted(waiting_since.items()):
                oldest.add_metric([ods], max(0.0, (now - since).total_seconds()))
            for practice in uow.practices.list():
                current = practice.breaker_state or "closed"
                for state in BREAKER_STATES:
                    breaker.add_metric([practice.ods_code, state], float(state == current))
                failures.add_metric([practice.ods_code], float(practice.breaker_failures or 0))
            unpublished_since = uow.outbox.oldest_unpublished_at()
            by_rule = uow.alerts.firing_by_rule()
        for rule in RULES:
            firing.add_metric([rule], float(by_rule.get(rule, 0)))
        lag = GaugeMetricFamily(
            "liaison_outbox_lag_seconds",
            "Age of the oldest job written to the outbox and not yet published to the broker.",
        )
        lag.add_metric(
            [], max(0.0, (now - unpublished_since).total_seconds()) if unpublished_since else 0.0
        )
        yield from (deliveries, oldest, lag, breaker, failures, firing)


class _ThisProcess(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _registry.collect()


def render(
    session_factory: sessionmaker[Session], broker_url: str, *, shared: Path | None
) -> bytes:
    """The exposition text: database gauges, plus every process's counters when they share
    a directory (or this process's own when not)."""
    _instruments()  # so every series is described even before its first event
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(session_factory, broker_url))
    if shared is not None:
        MultiProcessCollector(registry, path=str(shared))  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    return generate_latest(registry)
