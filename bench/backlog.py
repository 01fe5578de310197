"""5. Backlog drain: one practice's GP system goes down with thousands of requests queued for
it (a day's worth), then comes back. Measured: how fast the backlog drains against the
practice's configured `rate_limit_per_minute`, how many attempts each request cost, and
whether the other practices' deliveries slowed down meanwhile.

The outage is compressed: the simulator answers 503 for the practice for `--down` seconds,
with the circuit breaker re-probing every 5 s and backoff capped at 10 s (so many more
probe and retry rounds happen than in a real day at default settings, not fewer). Other
practices receive one new request a second throughout: before, during and after.
"""

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine, text

from bench.common import bench_ods, bench_stack, percentile, simulator_practice
from bench.report import Figure, Machine, Report
from bench.seed import seed

BACKLOG = bench_ods(900)
OTHERS = [bench_ods(n) for n in range(901, 905)]
TARGET_TOLERANCE = 0.10
TARGET_ATTEMPTS = 1.2


@dataclass
class Trickle:
    """One new delivery a second to the other practices, from a thread; each tagged with the
    phase it was queued in."""

    engine: Engine
    phase: str = "warm-up"
    sent: list[tuple[str, str]] = field(default_factory=list)  # (delivery id, phase)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        number = 0
        while not self._stop.is_set():
            ods = OTHERS[number % len(OTHERS)]
            number += 1
            for seeded in seed(self.engine, [ods], 1, state="queued"):
                self.sent.append((seeded.delivery_id, self.phase))
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()

    def latencies(self) -> dict[str, list[float]]:
        ids = [d for d, _ in self.sent]
        with self.engine.connect() as db:
            rows = db.execute(
                text(
                    "SELECT id, extract(epoch FROM delivered_at - created_at) FROM deliveries "
                    "WHERE id = ANY(:ids) AND delivered_at IS NOT NULL"
                ),
                {"ids": ids},
            )
            took = {str(i): float(s) for i, s in rows}
            rows = db.execute(
                text(
                    "SELECT id, extract(epoch FROM now() - created_at) FROM deliveries "
                    "WHERE id = ANY(:ids) AND delivered_at IS NULL"
                ),
                {"ids": ids},
            )
            took.update({str(i): float(s) for i, s in rows})
        phases: dict[str, list[float]] = {}
        for delivery_id, phase in self.sent:
            if delivery_id in took:
                phases.setdefault(phase, []).append(took[delivery_id])
        return phases


def _waiting(engine: Engine, ids: list[str]) -> int:
    with engine.connect() as db:
        return int(
            db.execute(
                text(
                    "SELECT count(*) FROM deliveries WHERE id = ANY(:ids) AND state <> 'delivered'"
                ),
                {"ids": ids},
            ).scalar_one()
        )


def delivered_count(engine: Engine) -> int:
    with engine.connect() as db:
        return int(
            db.execute(
                text(
                    "SELECT count(*) FROM deliveries WHERE practice_ods = :p "
                    "AND state = 'delivered'"
                ),
                {"p": BACKLOG},
            ).scalar_one()
        )


def steady_rate(series: list[tuple[float, int]], total: int) -> float:
    """Deliveries per second between 10 % and 90 % of the backlog delivered."""
    low = next(((t, n) for t, n in series if n >= 0.1 * total), None)
    high = next(((t, n) for t, n in series if n >= 0.9 * total), None)
    if low is None or high is None or high[0] <= low[0]:
        if len(series) >= 2 and series[-1][0] > series[0][0]:
            return (series[-1][1] - series[0][1]) / (series[-1][0] - series[0][0])
        return 0.0
    return (high[1] - low[1]) / (high[0] - low[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rate-limit", type=int, default=2400, help="per minute")
    parser.add_argument("--down", type=float, default=30.0, help="seconds the practice is down")
    parser.add_argument("--drain-limit", type=float, default=150.0, help="give up after (s)")
    args = parser.parse_args(argv)

    report = Report("5. Backlog drain", "bench.backlog", Machine.sample())
    env = {
        "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "3600",
        "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "1",
        "LIAISON_DELIVERY__RELAY_INTERVAL_SECONDS": "0.5",
        "LIAISON_WORKER__CONCURRENCY": "4",
        "LIAISON_DELIVERY__BREAKER_OPEN_SECONDS": "5",
        "LIAISON_DELIVERY__RETRY_BASE_SECONDS": "1",
        "LIAISON_DELIVERY__RETRY_CAP_SECONDS": "10",
    }
    with bench_stack(
        "backlog",
        extra_env=env,
        practices=lambda s: [
            simulator_practice(s, BACKLOG, rate_limit_per_minute=args.rate_limit, max_in_flight=8),
            *(simulator_practice(s, ods) for ods in OTHERS),
        ],
    ) as stack:
        stack.launch(["simulator", "mailsink", "notifysink", "beat"], workers=2)
        engine = stack.engine()
        trickle = Trickle(engine)
        thread = threading.Thread(target=trickle.run, daemon=True)
        thread.start()
        time.sleep(10)  # workers warm up (their first tasks connect and import)
        trickle.phase = "before"
        time.sleep(15)  # the other practices' latency before anything happens

        trickle.phase = "outage"
        httpx.put(
            f"{stack.simulator_url}/_sim/faults",
            json={"practice": BACKLOG, "down_seconds": args.down},
            timeout=10,
        ).raise_for_status()
        down_at = time.monotonic()
        seed(engine, [BACKLOG], args.requests, state="queued")
        print(f"backlog: {args.requests} queued for {BACKLOG}, down {args.down:.0f} s", flush=True)
        time.sleep(max(0.0, args.down - (time.monotonic() - down_at)))

        trickle.phase = "drain"
        back = time.monotonic()
        back_at = datetime.now(UTC)
        start_count = delivered_count(engine)
        series: list[tuple[float, int]] = [(0.0, start_count)]
        while series[-1][1] < args.requests and time.monotonic() - back < args.drain_limit:
            time.sleep(1.0)
            series.append((time.monotonic() - back, delivered_count(engine)))
        trickle.phase = "after"
        time.sleep(5)
        trickle.stop()
        thread.join(timeout=30)
        # The other practices' last requests get up to 30 s; any still waiting then count
        # with the time they had waited (a lower bound), not as if they had never been sent.
        ids = [d for d, _ in trickle.sent]
        settle = time.monotonic()
        while _waiting(engine, ids) and time.monotonic() - settle < 30:
            time.sleep(1)
        latencies = trickle.latencies()
        unfinished = _waiting(engine, ids)
        with engine.connect() as db:
            # Attempts spent on the requests that got through (those still waiting at the
            # end have not finished spending theirs), and every attempt by outcome.
            attempts = int(
                db.execute(
                    text(
                        "SELECT count(*) FROM delivery_attempts a JOIN deliveries d "
                        "ON d.id = a.delivery_id WHERE d.practice_ods = :p "
                        "AND d.state = 'delivered'"
                    ),
                    {"p": BACKLOG},
                ).scalar_one()
            )
            outcomes = {
                str(outcome): int(count)
                for outcome, count in db.execute(
                    text(
                        "SELECT a.outcome, count(*) FROM delivery_attempts a JOIN deliveries d "
                        "ON d.id = a.delivery_id WHERE d.practice_ods = :p GROUP BY a.outcome"
                    ),
                    {"p": BACKLOG},
                )
            }
            failed_while_down = int(
                db.execute(
                    text(
                        "SELECT count(*) FROM delivery_attempts a JOIN deliveries d "
                        "ON d.id = a.delivery_id WHERE d.practice_ods = :p "
                        "AND a.outcome <> 'success' AND a.started_at < :back"
                    ),
                    {"p": BACKLOG, "back": back_at},
                ).scalar_one()
            )
        engine.dispose()

    drained = series[-1][1]
    elapsed = series[-1][0]
    limit_per_second = args.rate_limit / 60
    rate = steady_rate(series, args.requests)
    report.add(
        Figure(
            "drain rate (10 % to 90 % of the backlog)",
            rate,
            "deliveries/s",
            ceiling=limit_per_second,
            target=f"rate limit {limit_per_second:.0f}/s ± {TARGET_TOLERANCE:.0%}",
            met=abs(rate - limit_per_second) <= TARGET_TOLERANCE * limit_per_second,
        )
    )
    per_request = attempts / max(drained, 1)
    report.add(
        Figure(
            "attempts per delivered request",
            per_request,
            "attempts",
            target=f"≤ {TARGET_ATTEMPTS}",
            met=per_request <= TARGET_ATTEMPTS,
            higher_is_better=False,
        )
    )
    base = latencies.get("before", [])
    for phase in ("outage", "drain"):
        values = latencies.get(phase, [])
        p50 = percentile(values, 50)
        limit = percentile(base, 50) * 1.25 + 0.5
        report.add(
            Figure(
                f"other practices' p50 latency during {phase}",
                p50,
                "s",
                ceiling=percentile(base, 50),
                target="≤ before x 1.25 + 0.5 s",
                met=p50 <= limit if values and base else None,
                higher_is_better=False,
            )
        )
    report.note(
        f"{drained} of {args.requests} delivered {elapsed:.0f} s after the practice came back "
        f"(limit {args.drain_limit:.0f} s); {attempts} attempts for the delivered ones; all "
        f"attempts by outcome: {outcomes}, {failed_while_down} failures while it was down. "
        f"Rate limit {args.rate_limit}/min, max 8 in flight."
    )
    report.note(
        "Other practices (one new delivery a second, queued-to-delivered): "
        + "; ".join(
            f"{phase} p50 {percentile(v, 50):.2f} s, p90 {percentile(v, 90):.2f} s (n={len(v)})"
            for phase, v in latencies.items()
            if phase != "warm-up"
        )
        + f". {unfinished} of them were still not delivered 30 s after the run (counted "
        "with the time they had waited). The ceiling column holds the latency before the outage."
    )
    report.publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
