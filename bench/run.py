"""`make bench`: every benchmark in turn, each in its own process and appending its own section
to docs/BENCHMARKS.md; a heading before and a summary line after.

`--quick` runs every benchmark at a small size (a check that they work, not figures to
keep: nothing is written to docs/BENCHMARKS.md).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

from bench.common import COMMAND_ENV, DOC, ROOT, RUN_ENV, reap
from bench.report import commit, timestamp

# (module, arguments for the full run, arguments for --quick, time limit in seconds)
BENCHMARKS: tuple[tuple[str, list[str], list[str], int], ...] = (
    ("bench.intake", [], ["--seconds", "4"], 240),
    ("bench.delivery", [], ["--deliveries", "100", "--ceiling-bundles", "100"], 300),
    ("bench.polling", [], ["--outstanding", "1000", "--practices", "20", "--cycles", "2"], 480),
    ("bench.notify", [], ["--samples", "4"], 240),
    (
        "bench.backlog",
        [],
        ["--requests", "200", "--rate-limit", "600", "--down", "10", "--drain-limit", "60"],
        360,
    ),
    ("bench.memory", [], ["--outstanding", "1000", "--practices", "20", "--deliveries", "50"], 480),
    ("bench.profile", [], ["--seconds", "5", "--deliveries", "200"], 240),
    (
        "bench.scaleout",
        [],
        [
            "--worker-processes",
            "1,2",
            "--deliveries",
            "60",
            "--ceiling-bundles",
            "60",
            "--seconds",
            "3",
        ],
        1200,
    ),
)


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. intake,delivery")
    args = parser.parse_args(argv)
    if not _postgres_up():
        print("bench: PostgreSQL is not answering on 127.0.0.1:5432 (see .ci/run)", file=sys.stderr)
        return 2
    wanted = {f"bench.{name}" for name in args.only.split(",") if name}
    chosen = [b for b in BENCHMARKS if not wanted or b[0] in wanted]
    command = "make bench" if not args.only else f"python -m bench.run --only {args.only}"
    env = {**os.environ, COMMAND_ENV: command}
    if args.quick:
        env["LIAISON_BENCH_NO_DOC"] = "1"
    else:
        text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
        DOC.write_text(
            text.rstrip() + f"\n\n## Run of {timestamp()} (`{command}`, commit `{commit()}`)\n"
        )
    started = time.monotonic()
    outcomes: list[str] = []
    failed = False
    for module, full, quick, limit in chosen:
        print(f"\n=== {module} ===", flush=True)
        began = time.monotonic()
        code = _run([sys.executable, "-m", module, *(quick if args.quick else full)], env, limit)
        outcome = {0: "ok", None: f"stopped at its {limit} s limit"}.get(code, f"exit {code}")
        failed = failed or code != 0
        name = module.removeprefix("bench.")
        outcomes.append(f"{name} {outcome} ({time.monotonic() - began:.0f} s)")
        print(f"=== {module}: {outcome}", flush=True)
    summary = f"All benchmarks took {time.monotonic() - started:.0f} s: " + "; ".join(outcomes)
    print("\n" + summary)
    if not args.quick:
        DOC.write_text(DOC.read_text().rstrip() + "\n\n" + summary + ".\n")
    return 1 if failed else 0


def _run(argv: list[str], env: dict[str, str], limit: float) -> int | None:
    """Run one benchmark; past its limit, interrupt it so its clean-up stops the processes it
    started and drops its database, then reap whatever is left. None when it was stopped."""
    run_id = uuid.uuid4().hex[:8]
    proc = subprocess.Popen(argv, cwd=ROOT, env={**env, RUN_ENV: run_id})
    code: int | None
    try:
        code = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        code = None
    left = reap(run_id)
    if left:
        print(f"bench: stopped {left} processes {argv[2]} left behind", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
