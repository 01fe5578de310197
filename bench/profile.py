"""7. Profile: where the time goes on the two paths furthest below their ceilings, sampled with
py-spy (pinned in the dev extras) from outside the running processes.

- intake: `liaison api` under wrk (16 connections) posting the sample recommendation;
- delivery: both `liaison worker` processes and their children while they drain queued
  deliveries (with beat relaying and polling as usual).

Prints and records, per path, the share of samples under each of Liaison's own functions
(inclusive) and the frames where the samples land (self). The fixes made from these
profiles, with before and after figures, are described in docs/BENCHMARKS.md.
"""

import argparse
import collections
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import SAMPLE, bench_ods, bench_stack, simulator_practice
from bench.load import run_wrk
from bench.report import Figure, Machine, Report
from bench.seed import seed

OWN = ("gateway/", "workers/", "adapters/", "fhir_profiles/")


def py_spy() -> str:
    return str(Path(sys.executable).with_name("py-spy"))


def record(pid: int, seconds: float, out: Path, *, subprocesses: bool = False) -> None:
    argv = [
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(round(seconds)),
        "--rate",
        "100",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    if subprocesses:
        argv.append("--subprocesses")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        # On a starved machine py-spy can overrun: Ctrl-C makes it write what it has.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _frame(raw: str) -> tuple[str, str]:
    """('function', 'file') from py-spy's 'function (path/file.py:line)'."""
    name, _, where = raw.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in OWN:
        if marker in path:
            path = marker + path.split(marker, 1)[1]
            break
    else:
        path = path.split("site-packages/")[-1]
    return name, path


def summarise(
    raw: Path, *, top: int = 12
) -> tuple[int, list[tuple[float, str]], list[tuple[float, str]]]:
    """Total samples; Liaison's functions by inclusive share; frames by self share."""
    inclusive: collections.Counter[str] = collections.Counter()
    own_self: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame(f) for f in stack.split(";")]
        seen = set()
        for name, path in frames:
            key = f"{path}:{name}"
            if path.startswith(OWN) and key not in seen:
                seen.add(key)
                inclusive[key] += samples
        name, path = frames[-1]
        own_self[f"{path}:{name}"] += samples

    def share(counts: collections.Counter[str]) -> list[tuple[float, str]]:
        return [(100 * n / max(total, 1), k) for k, n in counts.most_common(top)]

    return total, share(inclusive), share(own_self)


def table(title: str, rows: list[tuple[float, str]]) -> list[str]:
    return [f"{title}:", "", "| share | function |", "|---|---|"] + [
        f"| {pct:.1f} % | `{name}` |" for pct, name in rows
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--deliveries", type=int, default=1500)
    args = parser.parse_args(argv)

    report = Report("7. Profiles (py-spy)", "bench.profile", Machine.sample())
    practices = [bench_ods(n) for n in range(1, 21)]
    env = {
        "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "3600",
        "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "1",
        "LIAISON_DELIVERY__RELAY_INTERVAL_SECONDS": "0.5",
        "LIAISON_WORKER__CONCURRENCY": "4",
    }
    results: dict[str, tuple[int, list[tuple[float, str]], list[tuple[float, str]]] | None] = {}
    with bench_stack(
        "profile",
        extra_env=env,
        practices=lambda s: [simulator_practice(s, ods) for ods in ["Y00001", *practices]],
    ) as stack:
        stack.launch(["api", "simulator", "mailsink", "notifysink", "beat"], workers=2)
        body = stack.workdir / "recommendation.json"
        body.write_text(SAMPLE.read_text())
        token = stack.token()

        # Intake: sample the API while wrk keeps it busy.
        load = threading.Thread(
            target=run_wrk,
            args=(f"{stack.api_url}/v1/recommendations",),
            kwargs={
                "body": body,
                "token": token,
                "connections": 16,
                "seconds": args.seconds + 4,
            },
        )
        load.start()
        time.sleep(2)
        intake_raw = stack.workdir / "intake.raw"
        record(stack.pid("api"), args.seconds, intake_raw)
        load.join()
        results["intake (liaison api)"] = summarise(intake_raw) if intake_raw.exists() else None

        # Delivery: sample both workers while they drain a batch.
        engine = stack.engine()
        seed(engine, practices, args.deliveries, state="queued")
        raws = [stack.workdir / f"worker-{n}.raw" for n in (1, 2)]
        samplers = [
            threading.Thread(
                target=record,
                args=(stack.pid(f"worker-{n}"), args.seconds, raw),
                kwargs={"subprocesses": True},
            )
            for n, raw in zip((1, 2), raws, strict=True)
        ]
        for sampler in samplers:
            sampler.start()
        for sampler in samplers:
            sampler.join()
        engine.dispose()
        merged = stack.workdir / "workers.raw"
        merged.write_text("".join(raw.read_text() for raw in raws if raw.exists()))
        results["delivery (both liaison workers)"] = summarise(merged)

    for path, result in results.items():
        if result is None or not result[0]:
            report.note(f"{path}: py-spy recorded no samples (the machine was too busy?)")
            continue
        total, inclusive, own_self = result
        report.add(Figure(f"{path}: samples", total, "samples"))
        report.details.append(
            "\n".join(
                [
                    f"**{path}**, {total} samples at 100 Hz over {args.seconds:.0f} s "
                    "(threads waiting on I/O are left out by py-spy)",
                    "",
                    *table("Liaison's functions, inclusive", inclusive),
                    "",
                    *table("where the samples land (self)", own_self),
                    "",
                ]
            )
        )
    report.publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
