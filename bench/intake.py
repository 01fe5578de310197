"""1. Intake: POST /v1/recommendations on PostgreSQL under wrk, beside a bare FastAPI endpoint
served the same way that echoes the same body (bench/ceiling_app.py), in the same run.

Liaison's side does everything a real submission does: bearer-token check, validation, the
three FHIR resources (and the clinical-safety DetectedIssue the sample's clozapine raises)
built and validated, one transaction with the outbox row, and the audit record. No
Idempotency-Key is sent (every request is a new recommendation).
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from bench.common import ROOT, SAMPLE, BenchStack, bench_stack
from bench.load import WrkResult, at_rate, run_wrk
from bench.report import Figure, Machine, Report
from tests.conftest import free_port

CONNECTIONS = 16
TARGET_RATIO = 0.15
TARGET_P99_MS = 50.0


def start_ceiling(stack: BenchStack) -> str:
    """bench/ceiling_app.py in its own process, beside the stack's API; returns its URL."""
    port = free_port()
    env = {
        **stack.env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    log = (stack.workdir / "ceiling.log").open("ab")
    stack.procs["ceiling"] = subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling_app", "--port", str(port)],
        env=env,
        cwd=stack.workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    stack.wait_http(f"{url}/healthz", timeout=60)
    return url


def measure(
    url: str, *, token: str | None, seconds: float, body: Path
) -> tuple[WrkResult, WrkResult]:
    """The highest throughput at CONNECTIONS, then latency at half of it."""
    run_wrk(url, body=body, token=token, connections=CONNECTIONS, seconds=3)  # warm up
    peak = run_wrk(url, body=body, token=token, connections=CONNECTIONS, seconds=seconds)
    half = at_rate(url, body=body, token=token, rate=peak.rate / 2, seconds=seconds)
    return peak, half


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=1,
        help="`liaison api` processes (LIAISON_API__WORKERS); the ceiling stays one process",
    )
    args = parser.parse_args(argv)

    report = Report("1. Intake: POST /v1/recommendations", "bench.intake", Machine.sample())
    extra_env = {"LIAISON_API__WORKERS": str(args.api_workers)}
    with bench_stack("intake", extra_env=extra_env) as stack:
        stack.launch(["api"])
        body = stack.workdir / "recommendation.json"
        body.write_text(SAMPLE.read_text())
        token = stack.token()
        endpoint = f"{stack.api_url}/v1/recommendations"
        print("intake: Liaison", flush=True)
        liaison, liaison_half = measure(endpoint, token=token, seconds=args.seconds, body=body)
        engine = stack.engine()
        with engine.connect() as db:
            stored = db.execute(text("SELECT count(*) FROM recommendations")).scalar_one()
            outbox = db.execute(
                text("SELECT count(*) FROM outbox WHERE kind = 'deliver'")
            ).scalar_one()
        engine.dispose()
        print("intake: ceiling", flush=True)
        ceiling_url = start_ceiling(stack)
        ceiling, ceiling_half = measure(
            f"{ceiling_url}/v1/recommendations", token=token, seconds=args.seconds, body=body
        )

    ratio_ok = liaison.rate / ceiling.rate >= TARGET_RATIO if ceiling.rate else False
    report.add(
        Figure(
            f"throughput at {CONNECTIONS} connections",
            liaison.rate,
            "req/s",
            ceiling=ceiling.rate,
            target=f"ratio ≥ {TARGET_RATIO}",
            met=ratio_ok,
        )
    )
    for name, mine, theirs in (
        ("p50 latency at half load", liaison_half.p50_ms, ceiling_half.p50_ms),
        ("p99 latency at half load", liaison_half.p99_ms, ceiling_half.p99_ms),
    ):
        report.add(
            Figure(
                name,
                mine,
                "ms",
                ceiling=theirs,
                target=f"≤ {TARGET_P99_MS:.0f} ms" if name.startswith("p99") else "",
                met=(mine <= TARGET_P99_MS) if name.startswith("p99") else None,
                higher_is_better=False,
            )
        )
    report.note(
        f"Half load: Liaison paced at {liaison_half.rate:.1f} req/s (max {liaison.rate:.1f}), "
        f"ceiling at {ceiling_half.rate:.0f} req/s (max {ceiling.rate:.0f}); at most 8 paced "
        f"connections; {args.seconds:.0f} s per run after a 3 s warm-up; wrk -t1 on the same "
        "machine."
    )
    report.note(
        f"Every answer was 202: {liaison.errors + liaison_half.errors} errors from Liaison, "
        f"{ceiling.errors + ceiling_half.errors} from the ceiling; {stored} recommendations and "
        f"{outbox} outbox rows committed for {liaison.requests + liaison_half.requests} counted "
        "answers (plus warm-up and calibration runs)."
    )
    report.note(
        f"`liaison api` ran as {args.api_workers} uvicorn process(es) (one is its default); the "
        "ceiling is bench/ceiling_app.py in one process with the same uvicorn options, its "
        "handler a plain `def` in the same thread pool."
    )
    report.publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
