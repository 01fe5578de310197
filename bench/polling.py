"""3. Polling cost: 10,000 outstanding requests across 100 practices on the GP simulator. One
poll cycle is what beat's `liaison.poll_due` starts: one `poll_practice` task per practice,
each searching the practice's Tasks changed since its cursor, a page at a time. Measured:
the GP calls one cycle makes (the simulator's own count) and the time from sending
`poll_due` until every practice has finished its poll.

Beat is not running, so each cycle is started (and timed) alone. The first cycle has no
cursors and reads every Task; later cycles find nothing new (the simulator's practices do
not act during the run), which is the common case for requests waiting on a practice.
"""

import argparse
import math
import sys
import threading
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine, text

from bench.common import BenchStack, bench_ods, bench_stack, simulator_practice
from bench.report import Figure, Machine, Report
from bench.seed import seed
from fhir_profiles import systems

PAGE_SIZE = 100  # adapters.fhir_rest.FhirRestGPSystem's page size
TARGET_CYCLE_SECONDS = 5.0
ENV = {
    # Practices sit on their requests for the whole run: polls find no news after the first.
    "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "86400",
    # Beat does not run here; this only sets how soon a practice may be polled again.
    "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "1",
    "LIAISON_WORKER__CONCURRENCY": "4",
}


def practices_for(count: int) -> list[str]:
    return [bench_ods(n) for n in range(1, count + 1)]


def searches(stack: BenchStack) -> int:
    stats = httpx.get(f"{stack.simulator_url}/_sim/stats", timeout=30).json()
    return int(stats["searches"])


def poll_cycle(
    stack: BenchStack, engine: Engine, practices: int, limit: float
) -> tuple[float, int, int]:
    """Seconds, GP calls and practices polled for one poll cycle over every practice (or as
    many as finished within `limit` seconds)."""
    time.sleep(1.0)  # past the interval: every practice is due again
    before = searches(stack)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    stack.celery().send_task("liaison.poll_due", queue="control")
    done = 0
    while done < practices and time.monotonic() - started < limit:
        time.sleep(0.05)
        with engine.connect() as db:
            done = int(
                db.execute(
                    text("SELECT count(*) FROM practices WHERE last_polled_at >= :t"),
                    {"t": started_at},
                ).scalar_one()
            )
    return time.monotonic() - started, searches(stack) - before, done


def bare_cycle(stack: BenchStack, cursors: dict[str, str | None], threads: int = 8) -> float:
    """Seconds for plain httpx loops to make the same searches Liaison's poll cycle makes
    (adapters.fhir_rest: owner, changed since the cursor, sorted, one page): the ceiling."""
    ods_list = list(cursors)
    parts = [ods_list[i::threads] for i in range(threads)]

    def loop(part: list[str]) -> None:
        with httpx.Client(timeout=120, headers={"Accept": "application/fhir+json"}) as client:
            for ods in part:
                params: list[tuple[str, str | int | float | bool | None]] = [
                    ("owner", f"{systems.ODS_ORGANIZATION_CODE}|{ods}")
                ]
                if cursors[ods]:
                    params.append(("_lastUpdated", f"gt{cursors[ods]}"))
                params += [("_count", str(PAGE_SIZE)), ("_sort", "_lastUpdated")]
                client.get(f"{stack.simulator_url}/fhir/Task", params=params).raise_for_status()

    workers = [threading.Thread(target=loop, args=(part,)) for part in parts]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outstanding", type=int, default=10_000)
    parser.add_argument("--practices", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--cycle-limit", type=float, default=150.0, help="stop waiting after (s)")
    args = parser.parse_args(argv)

    report = Report("3. Polling cost", "bench.polling", Machine.sample())
    practices = practices_for(args.practices)
    with bench_stack(
        "polling",
        extra_env=ENV,
        practices=lambda s: [simulator_practice(s, ods) for ods in practices],
    ) as stack:
        stack.launch(["simulator"], workers=2)
        engine = stack.engine()
        started = time.monotonic()
        seed(
            engine,
            practices,
            args.outstanding,
            state="outstanding",
            simulator_url=stack.simulator_url,
        )
        print(
            f"polling: seeded {args.outstanding} in {time.monotonic() - started:.0f} s", flush=True
        )
        cycles = [
            poll_cycle(stack, engine, len(practices), args.cycle_limit) for _ in range(args.cycles)
        ]
        with engine.connect() as db:
            cursors = {
                str(ods): cursor
                for ods, cursor in db.execute(text("SELECT ods_code, poll_cursor FROM practices"))
            }
        cold_ceiling = bare_cycle(stack, dict.fromkeys(cursors))
        warm_ceiling = bare_cycle(stack, cursors)
        engine.dispose()

    per_practice = math.ceil(args.outstanding / args.practices)
    pages = math.ceil(per_practice / PAGE_SIZE)
    bound = args.practices * pages
    first_seconds, first_calls, first_done = cycles[0]
    later = cycles[1:] or cycles
    later_seconds = max(s for s, _, _ in later)
    later_calls = max(c for _, c, _ in later)
    later_done = min(n for _, _, n in later)
    report.add(
        Figure(
            "GP calls, first cycle (no cursors: every Task read)"
            + ("" if first_done == args.practices else f" ({first_done} practices finished)"),
            first_calls,
            "calls",
            ceiling=bound,
            target=f"≤ practices x pages = {bound}",
            met=first_calls <= bound if first_done == args.practices else None,
            higher_is_better=False,
        )
    )
    report.add(
        Figure(
            "GP calls, later cycles (nothing changed)",
            later_calls,
            "calls",
            ceiling=args.practices,
            target=f"≤ {bound}",
            met=later_calls <= bound,
            higher_is_better=False,
        )
    )
    report.add(
        Figure(
            "cycle time, first cycle",
            first_seconds,
            "s",
            ceiling=cold_ceiling,
            higher_is_better=False,
            target=f"< {TARGET_CYCLE_SECONDS:.0f} s",
            met=first_seconds < TARGET_CYCLE_SECONDS and first_done == args.practices,
        )
    )
    report.add(
        Figure(
            "cycle time, later cycles (worst)",
            later_seconds,
            "s",
            ceiling=warm_ceiling,
            higher_is_better=False,
            target=f"< {TARGET_CYCLE_SECONDS:.0f} s",
            met=later_seconds < TARGET_CYCLE_SECONDS and later_done == args.practices,
        )
    )
    report.note(
        f"{args.outstanding} outstanding requests, {per_practice} per practice, page size "
        f"{PAGE_SIZE}: {pages} page(s) per practice. The ceiling for calls is one search per "
        "practice per page. Cycles: "
        + ", ".join(f"{s:.2f} s / {c} calls / {n} practices polled" for s, c, n in cycles)
        + "; 2 `liaison worker` processes (prefork, 4 each)."
    )
    report.note(
        "Cycle-time ceiling: the same searches (every Task; then changed since each "
        "practice's cursor) made by 8 plain httpx threads against the same simulator, "
        "which serves every practice from one process."
    )
    report.publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
