"""2. Delivery throughput: N queued deliveries drained by two `liaison worker` processes into
the GP simulator, against the ceiling of bare httpx loops posting the same Bundles to it.

The deliveries are written as intake writes them (bench/seed.py: pending delivery + outbox
row) and spread over practices; beat's outbox relay publishes them and the workers do all
they do in production: per-practice gate (breaker, in-flight limit), claim, Bundle built
from the stored resources, POST, the attempt recorded, "delivered" applied and the
practitioner's "delivered" email queued and sent to the local SMTP sink.
"""

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, text

from bench.common import bench_ods, bench_stack, simulator_practice
from bench.report import Figure, Machine, Report
from bench.seed import bundles_for, seed

TARGET_RATIO = 0.3
CEILING_THREADS = 8  # as many requests in flight as 2 workers x 4 processes


def delivered(engine: Engine) -> int:
    with engine.connect() as db:
        return int(
            db.execute(
                text("SELECT count(*) FROM deliveries WHERE state = 'delivered'")
            ).scalar_one()
        )


def drain(engine: Engine, practices: Sequence[str], count: int, limit: float) -> tuple[int, float]:
    """Commit `count` queued deliveries; returns how many were delivered and in how many
    seconds: all of them, or as many as were by `limit` seconds."""
    before = delivered(engine)
    seed(engine, practices, count, state="queued")
    started = time.monotonic()
    done = 0
    while done < count and time.monotonic() - started < limit:
        time.sleep(0.1)
        done = delivered(engine) - before
    return done, time.monotonic() - started


def post_all(url: str, bundles: Sequence[dict[str, Any]], threads: int) -> float:
    """Seconds to POST every Bundle with `threads` plain httpx loops; each must be accepted."""
    slices = [bundles[i::threads] for i in range(threads)]
    failures: list[str] = []

    def loop(part: Sequence[dict[str, Any]]) -> None:
        with httpx.Client(timeout=30, headers={"Accept": "application/fhir+json"}) as client:
            for bundle in part:
                answer = client.post(
                    url, json=bundle, headers={"Content-Type": "application/fhir+json"}
                )
                if answer.status_code != 200:
                    failures.append(str(answer.status_code))

    workers = [threading.Thread(target=loop, args=(part,)) for part in slices]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    if failures:
        raise RuntimeError(f"the simulator refused {len(failures)} Bundles: {failures[:5]}")
    return elapsed


@dataclass
class Drained:
    """One drain of queued deliveries by `workers` processes, beside its own ceiling."""

    workers: int
    deliveries: int
    done: int
    seconds: float
    attempts: int  # successful attempts, the warm-up's included
    retried: int  # failed attempts
    bundles: int  # Bundles the ceiling posted
    ceilings: dict[int, float]  # Bundles/s by plain httpx threads

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    @property
    def ceiling(self) -> float:
        return max(self.ceilings.values())


def drain_with(
    workers: int,
    deliveries: int,
    *,
    practices: int = 20,
    limit: float = 120.0,
    ceiling_bundles: int = 500,
) -> Drained:
    """A fresh stack with `workers` `liaison worker` processes drains `deliveries`; then the
    same Bundles are POSTed to a reset simulator by plain httpx loops (the ceiling)."""
    codes = [bench_ods(n) for n in range(1, practices + 1)]
    env = {
        # The practices do nothing with what they receive during the run: polls find no news.
        "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "3600",
        "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "1",
        "LIAISON_DELIVERY__RELAY_INTERVAL_SECONDS": "0.5",
        "LIAISON_WORKER__CONCURRENCY": "4",
    }
    with bench_stack(
        "delivery",
        extra_env=env,
        practices=lambda s: [simulator_practice(s, ods) for ods in codes],
    ) as stack:
        stack.launch(["simulator", "mailsink", "notifysink", "beat"], workers=workers)
        engine = stack.engine()
        drain(engine, codes, 2 * len(codes), 120)  # warm-up: every worker connected
        print(f"delivery: {workers} workers draining {deliveries}", flush=True)
        done, seconds = drain(engine, codes, deliveries, limit)
        with engine.connect() as db:
            attempts = db.execute(
                text("SELECT count(*) FROM delivery_attempts WHERE outcome = 'success'")
            ).scalar_one()
            retried = db.execute(
                text("SELECT count(*) FROM delivery_attempts WHERE outcome <> 'success'")
            ).scalar_one()
            ids = [
                row[0]
                for row in db.execute(
                    text("SELECT id FROM deliveries ORDER BY created_at DESC LIMIT :n"),
                    {"n": deliveries},
                )
            ]
        bundles = bundles_for(engine, ids[:ceiling_bundles])
        engine.dispose()
        url = f"{stack.simulator_url}/fhir"
        print("delivery: ceiling", flush=True)
        ceilings = {}
        for threads in (1, CEILING_THREADS):
            # A fresh simulator each time: every Bundle is created, as the workers' were.
            httpx.post(f"{stack.simulator_url}/_sim/reset", timeout=30).raise_for_status()
            ceilings[threads] = len(bundles) / post_all(url, bundles, threads)
    return Drained(workers, deliveries, done, seconds, attempts, retried, len(bundles), ceilings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--practices", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=float, default=120.0, help="stop waiting after (s)")
    parser.add_argument("--ceiling-bundles", type=int, default=500)
    args = parser.parse_args(argv)

    report = Report("2. Delivery throughput", "bench.delivery", Machine.sample())
    run = drain_with(
        args.workers,
        args.deliveries,
        practices=args.practices,
        limit=args.limit,
        ceiling_bundles=args.ceiling_bundles,
    )
    report.add(
        Figure(
            f"{args.deliveries} deliveries drained by {args.workers} workers",
            run.rate,
            "deliveries/s",
            ceiling=run.ceiling,
            target=f"ratio ≥ {TARGET_RATIO}",
            met=run.rate / run.ceiling >= TARGET_RATIO,
        )
    )
    report.note(
        f"{run.done} of {args.deliveries} delivered in {run.seconds:.1f} s from the commit of "
        f"the queued rows (relay lag included; the wait stops at {args.limit:.0f} s); "
        f"{run.attempts} successful attempts, {run.retried} failed ones; "
        f"{args.practices} practices on the simulator, {args.workers} `liaison worker` "
        "processes (prefork, 4 each), beat relaying every 0.5 s and polling every 1 s."
    )
    report.note(
        f"Ceiling: {run.bundles} of the same Bundles (fhir_profiles.builders."
        "build_transaction_bundle over the stored resources) POSTed to the same simulator by "
        f"plain httpx loops: {run.ceilings[1]:.0f}/s from one loop, "
        f"{run.ceilings[CEILING_THREADS]:.0f}/s from {CEILING_THREADS} threads; the better is "
        "the ceiling."
    )
    report.publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
