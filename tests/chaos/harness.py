"""The chaos run: many recommendations through real processes while the GP side fails,
workers are SIGKILLed and the broker and database restart; then count, at the GP
simulator's own record and in the mail and SMS sinks, what was lost or duplicated.

Used by `make chaos` (full size, Redis and RabbitMQ) and by a bounded test in `make test`.
"""

import concurrent.futures
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from fhir_profiles import systems
from gateway.cli import sample_recommendation
from tests.e2e.stack import Stack

# Practice -> the status a recommendation must end in there.
EXPECTED_END = {
    "Y00001": "collected",
    "Y00002": "rejected",
    "Y00003": "appointment-needed",
    "Y00005": "collected",
}
UNSETTLED_DELIVERY = ("pending", "in-flight", "retrying")


@dataclass
class ChaosPlan:
    recommendations: int = 1000
    failure_rate: float = 0.5
    down_practice: str = "Y00001"
    down_seconds: float = 60
    worker_kills: int = 3
    restart_broker: bool = True
    restart_database: bool = True
    drain_timeout: float = 900


@dataclass
class ChaosReport:
    broker: str
    plan: ChaosPlan
    submitted: int = 0
    received_at_gp: int = 0
    duplicates_at_gp: int = 0
    lost: int = 0
    wrong_final_state: int = 0
    dead_lettered: int = 0
    replayed: int = 0
    notifications_sent: int = 0
    duplicate_notifications: int = 0
    stuck_rows: int = 0
    drain_seconds: float = 0.0
    attempts_per_request: float = 0.0
    events: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (
            self.lost
            == self.duplicates_at_gp
            == self.duplicate_notifications
            == self.stuck_rows
            == self.wrong_final_state
            == 0
        )


def restart_redis() -> None:
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"],
        check=False,
        capture_output=True,
    )
    time.sleep(1)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=True,
    )


def restart_rabbitmq() -> None:
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)


def restart_postgres() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
    )


def _submit_all(stack: Stack, plan: ChaosPlan) -> list[tuple[str, str]]:
    """Submit like a careful client: retry with the same Idempotency-Key until accepted."""
    practices = list(EXPECTED_END)
    token = stack.liaison("token", "--client", "demo-app")
    headers = {"Authorization": f"Bearer {token}"}

    def one(i: int) -> tuple[str, str]:
        ods = practices[i % len(practices)]
        key = f"chaos-{i}-{uuid.uuid4()}"
        with httpx.Client(base_url=stack.api_url, timeout=15, headers=headers) as client:
            for _ in range(120):
                try:
                    response = client.post(
                        "/v1/recommendations",
                        json=sample_recommendation(ods),
                        headers={"Idempotency-Key": key},
                    )
                    if response.status_code == 202:
                        return str(response.json()["id"]), ods
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        raise RuntimeError(f"recommendation {i} was never accepted")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(plan.recommendations)))


def _faults(
    stack: Stack, plan: ChaosPlan, restart_broker: Any, report: ChaosReport, stop: threading.Event
) -> None:
    """Runs beside the submissions: kills and restarts spread over the first minute."""
    stack.faults(failure_rate=plan.failure_rate)
    stack.faults(practice=plan.down_practice, down_seconds=plan.down_seconds)
    report.events.append(
        f"GP simulator failing {plan.failure_rate:.0%} of calls; "
        f"{plan.down_practice} down for {plan.down_seconds:.0f}s"
    )
    for n in range(plan.worker_kills):
        if stop.wait(4):
            return
        stack.kill("worker")
        report.events.append(f"worker SIGKILLed ({n + 1})")
        time.sleep(1)
        stack.spawn("worker")
    if plan.restart_broker and not stop.wait(3):
        restart_broker()
        report.events.append("broker restarted")
    if plan.restart_database and not stop.wait(3):
        restart_postgres()
        report.events.append("PostgreSQL restarted")


def _state(database_url: str) -> dict[str, Any]:
    engine = create_engine(database_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            recs = dict(conn.execute(text("SELECT id, status FROM recommendations")).all())
            deliveries = conn.execute(
                text(
                    "SELECT state, count(*), coalesce(sum(attempt_count), 0) "
                    "FROM deliveries GROUP BY state"
                )
            ).all()
            notes = conn.execute(
                text("SELECT status, count(*) FROM notifications GROUP BY status")
            ).all()
            unpublished = conn.execute(
                text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            ).scalar_one()
            sent_refs = [
                r
                for (r,) in conn.execute(
                    text("SELECT id FROM notifications WHERE status = 'sent'")
                ).all()
            ]
    finally:
        engine.dispose()
    return {
        "recs": recs,
        "deliveries": {s: (int(n), int(a)) for s, n, a in deliveries},
        "notifications": {s: int(n) for s, n in notes},
        "unpublished": int(unpublished),
        "sent_refs": sent_refs,
    }


def _settled(state: dict[str, Any], expected: dict[str, str]) -> bool:
    waiting = sum(state["deliveries"].get(s, (0, 0))[0] for s in UNSETTLED_DELIVERY)
    pending_notes = sum(state["notifications"].get(s, 0) for s in ("pending", "sending"))
    finished = all(state["recs"].get(rid) == want for rid, want in expected.items())
    return finished and waiting == 0 and pending_notes == 0 and state["unpublished"] == 0


def run_chaos(stack: Stack, plan: ChaosPlan, *, broker: str) -> ChaosReport:
    report = ChaosReport(broker=broker, plan=plan)
    restart = restart_rabbitmq if broker == "rabbitmq" else restart_redis
    stop = threading.Event()
    chaos = threading.Thread(target=_faults, args=(stack, plan, restart, report, stop))
    chaos.start()
    started = time.monotonic()
    try:
        submitted = _submit_all(stack, plan)
    finally:
        chaos.join()
    report.submitted = len(submitted)
    expected = {rid: EXPECTED_END[ods] for rid, ods in submitted}
    submitted_at = time.monotonic()

    deadline = time.monotonic() + plan.drain_timeout
    state = _state(stack.database_url)
    while not _settled(state, expected) and time.monotonic() < deadline:
        time.sleep(2)
        state = _state(stack.database_url)
    report.drain_seconds = round(time.monotonic() - submitted_at, 1)
    report.events.append(f"submitted in {submitted_at - started:.0f}s")

    tasks = Counter(
        next(
            (
                i["value"]
                for i in row.get("identifiers", [])
                if i.get("system") == systems.RECOMMENDATION_ID
            ),
            row["id"],
        )
        for row in stack.received_at_gp()
        if row["type"] == "Task"
    )
    report.received_at_gp = sum(1 for rid in expected if tasks.get(rid, 0) >= 1)
    report.duplicates_at_gp = sum(n - 1 for n in tasks.values() if n > 1)
    report.lost = sum(1 for rid in expected if rid not in state["recs"] or tasks.get(rid, 0) == 0)
    report.wrong_final_state = sum(
        1 for rid, want in expected.items() if state["recs"].get(rid) != want
    )
    report.dead_lettered = state["deliveries"].get("dead", (0, 0))[0]
    report.replayed = state["deliveries"].get("replayed", (0, 0))[0]
    sent_refs = set(state["sent_refs"])
    seen = Counter(
        [m.get("reference") for m in stack.mail()] + [m.get("reference") for m in stack.sms()]
    )
    report.notifications_sent = len(sent_refs)
    report.duplicate_notifications = sum(n - 1 for ref, n in seen.items() if n > 1 and ref)
    report.stuck_rows = (
        sum(state["deliveries"].get(s, (0, 0))[0] for s in UNSETTLED_DELIVERY)
        + sum(state["notifications"].get(s, 0) for s in ("pending", "sending"))
        + state["unpublished"]
    )
    attempts = sum(a for _, a in state["deliveries"].values())
    report.attempts_per_request = round(attempts / max(1, report.submitted), 2)
    return report


def as_markdown_row(report: ChaosReport) -> str:
    return (
        f"| {report.broker} | {report.submitted} | {report.received_at_gp} | "
        f"{report.duplicates_at_gp} | {report.lost} | {report.wrong_final_state} | "
        f"{report.dead_lettered} | {report.replayed} | {report.notifications_sent} | "
        f"{report.duplicate_notifications} | {report.stuck_rows} | "
        f"{report.drain_seconds} | {report.attempts_per_request} |"
    )
