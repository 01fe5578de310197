"""`make chaos`: the full chaos run on PostgreSQL + Redis and on PostgreSQL + RabbitMQ;
writes the figures to docs/RELIABILITY.md between the chaos markers."""

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.chaos.harness import ChaosPlan, ChaosReport, as_markdown_row, run_chaos
from tests.chaos.test_chaos_bounded import CHAOS_ENV
from tests.conftest import PG_ADMIN_URL
from tests.e2e.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "RELIABILITY.md"
START, END = "<!-- chaos:start -->", "<!-- chaos:end -->"
HEADER = (
    "| broker | submitted | received at GP | duplicates at GP | lost | wrong final state "
    "| dead-lettered | replayed | notifications sent | duplicate notifications "
    "| stuck rows | drain s | attempts per request |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _broker_url(broker: str) -> str:
    if broker == "rabbitmq":
        vhost = f"liaison_chaos_{uuid.uuid4().hex[:8]}"
        subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        return f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    return "redis://127.0.0.1:6379/15"


def run(broker: str, plan: ChaosPlan) -> ChaosReport:
    name = f"liaison_chaos_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{broker}-"))
    if broker == "redis":
        subprocess.run(["redis-cli", "-n", "15", "flushdb"], check=True, capture_output=True)
    stack = Stack(
        workdir=workdir,
        database_url=f"postgresql+psycopg://postgres@127.0.0.1/{name}",
        broker_url=_broker_url(broker),
        extra_env=CHAOS_ENV,
    )
    try:
        stack.start()
        return run_chaos(stack, plan, broker=broker)
    finally:
        stack.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_doc(reports: list[ChaosReport], command: str) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    plan = reports[0].plan
    body = "\n".join(
        [
            START,
            "## Chaos run",
            "",
            f"Command: `{command}` — {datetime.date.today()} at commit `{commit}`, "
            f"{os.cpu_count()} cores.",
            "",
            f"{plan.recommendations} recommendations across Y00001-Y00003 and Y00005 while the GP "
            f"simulator failed {plan.failure_rate:.0%} of calls, {plan.down_practice} was down for "
            f"{plan.down_seconds:.0f} s, a worker was SIGKILLed {plan.worker_kills} times, the "
            "broker restarted and PostgreSQL restarted. Counts come from the simulator's record "
            "of what it received and from the mail and SMS sinks.",
            "",
            HEADER,
            *(as_markdown_row(r) for r in reports),
            "",
            *(f"- {r.broker}: " + "; ".join(r.events) for r in reports),
            END,
        ]
    )
    text = DOC.read_text() if DOC.exists() else "# Reliability\n"
    if START in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), body, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recommendations", type=int, default=1000)
    parser.add_argument("--brokers", default="redis,rabbitmq")
    args = parser.parse_args()
    plan = ChaosPlan(recommendations=args.recommendations)
    reports = [run(broker, plan) for broker in args.brokers.split(",")]
    for report in reports:
        print(as_markdown_row(report))
    write_doc(reports, "make chaos")
    return 0 if all(r.clean for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
