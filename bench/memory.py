"""6. Memory: peak resident set of the gateway (`liaison api`) and of a worker (`liaison
worker`: its main process and each prefork child) with 10,000 outstanding requests.

While they are outstanding: beat polls all 100 practices (the first cycle reads every
Task), 500 new deliveries go out, and the API lists all 10,000 recommendations page by
page, reads 200 of them in full, searches FHIR Tasks and takes a burst of new
submissions. Peaks are the kernel's high-water marks (VmHWM in /proc), read at the end.
"""

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, text

from bench.common import (
    SAMPLE,
    BenchStack,
    bench_stack,
    peak_rss_mb,
    process_tree,
    rss_mb,
    simulator_practice,
)
from bench.load import run_wrk
from bench.polling import practices_for
from bench.report import Figure, Machine, Report
from bench.seed import seed

TARGET_GATEWAY_MB = 120.0
TARGET_WORKER_MB = 150.0


@dataclass
class TreeSampler:
    """The largest total RSS a process tree (a worker and its children) reached, sampled."""

    pids: dict[str, int]
    peaks: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(0.5):
            for label, pid in self.pids.items():
                total = 0.0
                for proc in process_tree(pid):
                    try:
                        total += proc.memory_info().rss / 2**20
                    except Exception:  # noqa: S112 - a child that just exited
                        continue
                self.peaks[label] = max(self.peaks.get(label, 0.0), total)

    def stop(self) -> None:
        self._stop.set()


def polled_all(engine: Engine, practices: int) -> bool:
    with engine.connect() as db:
        done = db.execute(
            text("SELECT count(*) FROM practices WHERE poll_cursor IS NOT NULL")
        ).scalar_one()
    return int(done) >= practices


def exercise_api(stack: BenchStack, outstanding: int) -> int:
    """What a busy day asks of the gateway; returns how many requests it made."""
    made = 0
    with stack.client() as client:
        client.timeout = httpx.Timeout(60)
        ids: list[str] = []
        for offset in range(0, outstanding, 200):
            page = client.get("/v1/recommendations", params={"limit": 200, "offset": offset})
            page.raise_for_status()
            ids += [item["id"] for item in page.json()["items"]]
            made += 1
        for recommendation_id in ids[:: max(1, len(ids) // 200)][:200]:
            client.get(f"/v1/recommendations/{recommendation_id}").raise_for_status()
            made += 1
        for _ in range(5):
            answer = client.get("/fhir/Task", params={"_count": 100})
            made += 1
            if answer.status_code >= 500:
                answer.raise_for_status()
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outstanding", type=int, default=10_000)
    parser.add_argument("--practices", type=int, default=100)
    parser.add_argument("--deliveries", type=int, default=500)
    args = parser.parse_args(argv)

    report = Report(
        f"6. Memory with {args.outstanding:,} outstanding requests",
        "bench.memory",
        Machine.sample(),
    )
    practices = practices_for(args.practices)
    env = {
        "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "86400",
        "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "1",
        "LIAISON_DELIVERY__RELAY_INTERVAL_SECONDS": "0.5",
        "LIAISON_WORKER__CONCURRENCY": "4",
    }
    with bench_stack(
        "memory",
        extra_env=env,
        practices=lambda s: [simulator_practice(s, ods) for ods in practices],
    ) as stack:
        stack.launch(["api", "simulator", "mailsink", "notifysink"], workers=2)
        time.sleep(2)
        at_start = {label: rss_mb(stack.pid(label)) for label in ("api", "worker-1")}
        engine = stack.engine()
        seed(
            engine,
            practices,
            args.outstanding,
            state="outstanding",
            simulator_url=stack.simulator_url,
        )
        sampler = TreeSampler(
            {"worker-1": stack.pid("worker-1"), "worker-2": stack.pid("worker-2")}
        )
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        stack.spawn("beat")  # polls start now, over every outstanding request
        polled = _within(lambda: polled_all(engine, len(practices)), 150)
        seed(engine, practices, args.deliveries, state="queued")
        requests = exercise_api(stack, args.outstanding)
        body = stack.workdir / "recommendation.json"
        submission = json.loads(SAMPLE.read_text())
        submission["gp_practice"] = {"ods_code": practices[0]}
        body.write_text(json.dumps(submission))
        burst = run_wrk(
            f"{stack.api_url}/v1/recommendations",
            body=body,
            token=stack.token(),
            connections=8,
            seconds=10,
        )
        sent = _within(lambda: _delivered(engine) >= args.outstanding + args.deliveries, 90)
        time.sleep(2)
        sampler.stop()
        thread.join(timeout=10)
        gateway = peak_rss_mb(stack.pid("api"))
        workers = {
            label: [(proc.pid, peak_rss_mb(proc.pid)) for proc in process_tree(stack.pid(label))]
            for label in ("worker-1", "worker-2")
        }
        engine.dispose()

    report.add(
        Figure(
            "gateway (liaison api) peak RSS",
            gateway,
            "MB",
            target=f"≤ {TARGET_GATEWAY_MB:.0f} MB",
            met=gateway <= TARGET_GATEWAY_MB,
        )
    )
    largest = max(mb for procs in workers.values() for _, mb in procs)
    report.add(
        Figure(
            "worker: largest process peak RSS",
            largest,
            "MB",
            target=f"≤ {TARGET_WORKER_MB:.0f} MB",
            met=largest <= TARGET_WORKER_MB,
        )
    )
    whole = max(sampler.peaks.values()) if sampler.peaks else float("nan")
    report.add(Figure("worker: whole tree (main + 4 children) peak RSS", whole, "MB"))
    report.note(
        f"Resident at start, before any work (imports and pools): gateway "
        f"{at_start['api']:.0f} MB, worker main process {at_start['worker-1']:.0f} MB."
    )
    report.note(
        "Per-process peaks (VmHWM, MB): "
        + "; ".join(
            f"{label}: " + ", ".join(f"{mb:.0f}" for _, mb in procs)
            for label, procs in workers.items()
        )
        + f". The whole-tree figure is sampled every 0.5 s (shared pages counted in each "
        f"process). Gateway load: {requests} reads and a 10 s burst of "
        f"{burst.requests} submissions."
    )
    report.note(
        "Worker load: "
        + (
            "every practice polled once (all Tasks read)"
            if polled
            else "the first poll of every practice had not finished within 150 s"
        )
        + f", then {args.deliveries} deliveries "
        + ("all delivered." if sent else "not all delivered within 90 s.")
    )
    report.publish()
    return 0


def _within(done: Callable[[], bool], seconds: float) -> bool:
    """Wait up to `seconds` for `done`; the peaks are read either way."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _delivered(engine: Engine) -> int:
    with engine.connect() as db:
        return int(
            db.execute(
                text("SELECT count(*) FROM deliveries WHERE state = 'delivered'")
            ).scalar_one()
        )


if __name__ == "__main__":
    sys.exit(main())
