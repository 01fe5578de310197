"""Intake in-process: CPU time, SQL statements and commits per POST /v1/recommendations.

The same request `bench.intake` sends (the sample recommendation, bearer token, no
Idempotency-Key), through the real app on a fresh PostgreSQL database, without a load
generator or a network between: on a shared machine the CPU time of this one process is
steadier than wrk's throughput, so it is what the levers are compared by. `--profile`
prints cProfile's top functions (cumulative) for the measured submissions.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from bench.common import SAMPLE, fresh_database
from bench.profile import py_spy, summarise, table
from gateway.api.app import create_app
from gateway.logging import configure_logging
from gateway.practice_directory import dev_directory, seed
from gateway.security.tokens import issue_token
from gateway.settings import ApiSettings, BrokerSettings, DatabaseSettings, PdsSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork

CALL_SAMPLE = 20


def _settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        log_level="WARNING",
        database=DatabaseSettings(url=database_url),
        broker=BrokerSettings(url="memory://"),
        pds=PdsSettings(mode="off"),
        api=ApiSettings(client_rate_limit_per_minute=0),
    )


def _spy(out: Path) -> subprocess.Popen[bytes]:
    argv = [py_spy(), "record", "--pid", str(os.getpid()), "--rate", "200", "--gil"]
    argv += ["--format", "raw", "--output", str(out), "--nonblocking"]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # let it attach
    return spy


def _calls_per_submission(app: Any, headers: dict[str, str], body: bytes) -> float:
    """Python-level calls (and calls into C) per submission, in every thread: a new
    TestClient starts new threads, so `threading.setprofile` reaches the handler's."""
    calls = [0]
    counting = [False]

    def count(_frame: Any, event_name: str, _arg: Any) -> None:
        if counting[0] and event_name in ("call", "c_call"):
            calls[0] += 1

    threading.setprofile(count)
    sys.setprofile(count)
    try:
        with TestClient(app, headers=headers) as client:
            for _ in range(5):  # the new threads' first requests
                client.post("/v1/recommendations", content=body)
            counting[0] = True
            for _ in range(CALL_SAMPLE):
                assert client.post("/v1/recommendations", content=body).status_code == 202
            counting[0] = False
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return calls[0] / CALL_SAMPLE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profile", type=Path, help="py-spy raw output file: sample this process")
    parser.add_argument("--sql", action="store_true", help="print one submission's statements")
    parser.add_argument(
        "--calls",
        action="store_true",
        help="also count Python function calls per submission: steadier than CPU time on a "
        "shared machine, blind to work done in C",
    )
    args = parser.parse_args(argv)
    body = SAMPLE.read_bytes()
    configure_logging("WARNING")  # as `liaison api` under bench.intake
    with fresh_database("intakecpu") as url, tempfile.TemporaryDirectory() as tmp:
        settings = _settings(url, Path(tmp))
        upgrade(url)
        engine = make_engine(url)
        with UnitOfWork(make_session_factory(engine)) as uow:
            seed(uow, dev_directory(settings))
        engine.dispose()
        app = create_app(settings)
        token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with TestClient(app, headers=headers) as client:
            counts = {"statements": 0, "commits": 0}

            shown: list[str] = []

            def statement(*event_args: Any) -> None:
                counts["statements"] += 1
                if args.sql and counts["commits"] == 0:
                    shown.append(" ".join(str(event_args[2]).split())[:160])

            def commit(*_: Any) -> None:
                counts["commits"] += 1

            for _ in range(args.warmup):
                assert client.post("/v1/recommendations", content=body).status_code == 202
            app_engine = app.state.engine
            event.listen(app_engine, "before_cursor_execute", statement)
            event.listen(app_engine, "commit", commit)
            spy = _spy(args.profile) if args.profile else None
            cpu: list[float] = []
            for _ in range(args.submissions):
                started = time.process_time()
                answer = client.post("/v1/recommendations", content=body)
                cpu.append(time.process_time() - started)
                assert answer.status_code == 202, answer.text
            event.remove(app_engine, "before_cursor_execute", statement)
            event.remove(app_engine, "commit", commit)
            if spy:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
                spy.wait(timeout=60)
        calls = _calls_per_submission(app, headers, body) if args.calls else None
        app.state.engine.dispose()
    n = args.submissions
    print(
        f"{n} submissions: CPU per submission median {1000 * statistics.median(cpu):.1f} ms, "
        f"mean {1000 * statistics.fmean(cpu):.1f} ms; "
        f"{counts['statements'] / n:.1f} statements, {counts['commits'] / n:.1f} commits each"
    )
    if calls is not None:
        print(f"Python function calls per submission (every thread): {calls:,.0f}")
    for line in shown:
        print("  ", line)
    if args.profile and args.profile.exists():
        total, inclusive, own_self = summarise(args.profile, top=30)
        print(f"{total} samples")
        print("\n".join(table("Liaison's functions, inclusive", inclusive)))
        print("\n".join(table("where the samples land (self)", own_self)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
