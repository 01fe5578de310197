"""What every benchmark shares: a fresh PostgreSQL database and a Redis server of its own,
Liaison's real processes (tests/e2e/stack.py's `Stack`, started through the `liaison` CLI on
free loopback ports), the machine's state, and the results table in docs/BENCHMARKS.md."""

import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import psycopg
import yaml
from sqlalchemy import Engine, create_engine

from tests.conftest import PG_ADMIN_URL, free_port
from tests.e2e.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
SAMPLE = ROOT / "docs" / "sample-recommendation.json"
# Set by bench/run.py so every section of one `make bench` names the command that made it.
COMMAND_ENV = "LIAISON_BENCH_COMMAND"
# Every process a benchmark starts inherits this tag, and its databases carry it in their
# names, so `reap` can stop whatever a benchmark left behind if it was killed.
RUN_ENV = "LIAISON_BENCH_RUN"
RUN_ID = os.environ.setdefault(RUN_ENV, uuid.uuid4().hex[:8])


# --- services -------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (as tests/conftest.py's `postgres_url`), dropped after."""
    name = f"liaison_bench_{RUN_ID}_{prefix}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A Redis server of the benchmark's own on a free loopback port: the test suite and the
    chaos run flush database indexes of the shared server, which would eat a benchmark's
    queued tasks if they ran at the same time."""
    port = free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until(lambda: _redis_answers(port), timeout=20, what="redis-server")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port).ping())
    except redis.RedisError:
        return False


# --- Liaison's processes ----------------------------------------------------------------


@dataclass
class BenchStack(Stack):
    """A `Stack` that starts only the services a benchmark needs, and any number of workers."""

    def launch(self, services: Sequence[str], *, workers: int = 0) -> None:
        self.liaison("migrate", timeout=180)
        for name in services:
            self.spawn(name)
        for number in range(1, workers + 1):
            self.spawn_as(f"worker-{number}", "worker")
        if "api" in services:
            self.wait_http(f"{self.api_url}/readyz", timeout=120)
        if "simulator" in services:
            self.wait_http(f"{self.simulator_url}/fhir/metadata", timeout=120)
        if "mailsink" in services:
            self.wait_http(f"http://127.0.0.1:{self.mail_view_port}/messages", timeout=120)
        if "notifysink" in services:
            self.wait_http(f"http://127.0.0.1:{self.notify_port}/_sink/messages", timeout=120)
        if workers:
            self.wait_workers(workers)

    def stop(self) -> None:
        """Ask every process to stop, give them ten seconds together, then kill what is left
        with everything it forked (a prefork worker's children)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def spawn_as(self, label: str, *argv: str) -> None:
        log = (self.workdir / f"{label}.log").open("ab")
        self.procs[label] = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *argv],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_workers(self, count: int, timeout: float = 120) -> None:
        app = self.celery()

        def answered() -> bool:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.log(name)}")
            return len(app.control.ping(timeout=1.0) or []) >= count

        wait_until(answered, timeout=timeout, interval=0.5, what=f"{count} Celery workers")

    def celery(self) -> Any:
        """A Celery client on the stack's broker, for sending Liaison's tasks by name."""
        from celery import Celery

        return Celery("bench", broker=self.broker_url)

    def token(self) -> str:
        return self.liaison("token", "--client", "demo-app")

    def engine(self) -> Engine:
        return create_engine(self.database_url, pool_size=4)

    def pid(self, label: str) -> int:
        return self.procs[label].pid


def directory_file(workdir: Path, practices: list[dict[str, Any]]) -> Path:
    path = workdir / "practices.yaml"
    path.write_text(yaml.safe_dump({"practices": practices}))
    return path


def simulator_practice(stack: Stack, ods_code: str, **options: Any) -> dict[str, Any]:
    return {
        "ods_code": ods_code,
        "adapter": "simulator",
        "base_url": f"{stack.simulator_url}/fhir",
        **options,
    }


def bench_ods(number: int) -> str:
    """ODS codes for made-up practices: the simulator's default script (it prescribes)."""
    return f"B{number:05d}"


# Settings every benchmark stack shares: no per-client request budget (the load generator
# is one client), and JSON logs only at WARNING so the log writing is not what is measured.
BENCH_ENV = {
    "LIAISON_API__CLIENT_RATE_LIMIT_PER_MINUTE": "0",
    "LIAISON_LOG_LEVEL": "WARNING",
    # No PDS stand-in runs: the practice given is the one routed to (seeded rows name it),
    # or every seeded delivery would wait for a registered practice nobody answers for.
    "LIAISON_PDS__MODE": "off",
}


@contextlib.contextmanager
def bench_stack(
    prefix: str,
    *,
    extra_env: dict[str, str] | None = None,
    practices: Callable[[BenchStack], list[dict[str, Any]]] | None = None,
) -> Iterator[BenchStack]:
    """A fresh database, a Redis of its own, and a stack (not yet launched) on them."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    with fresh_database(prefix) as database_url, redis_server(workdir) as broker_url:
        stack = BenchStack(
            workdir=workdir,
            database_url=database_url,
            broker_url=broker_url,
            extra_env={**BENCH_ENV, **(extra_env or {})},
        )
        if practices is not None:
            stack.env["LIAISON_DELIVERY__PRACTICE_DIRECTORY"] = str(
                directory_file(workdir, practices(stack))
            )
        try:
            yield stack
        finally:
            stack.stop()
    if os.environ.get("LIAISON_BENCH_KEEP") != "1":
        shutil.rmtree(workdir, ignore_errors=True)


def reap(run_id: str) -> int:
    """Kill every process tagged with `run_id` (but this one) and drop its databases; returns
    how many processes were left. For bench/run.py, after a benchmark it had to stop."""
    me = os.getpid()
    marker = f"{RUN_ENV}={run_id}".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            tagged = marker in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if tagged:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        names = admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"liaison_bench_{run_id}_%",),
        ).fetchall()
        for (name,) in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return killed


# --- measuring --------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of the process's resident set (VmHWM), in MB."""
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    """The process's resident set now (VmRSS), in MB."""
    return _status_mb(pid, "VmRSS:")


def _status_mb(pid: int, field_name: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field_name):
                return int(line.split()[1]) / 1024
    return math.nan


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def api_ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
