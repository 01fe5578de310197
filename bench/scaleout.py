"""8. Scale-out: figure 2's drain with 1, 2 and 4 `liaison worker` processes, and figure 1's
intake throughput with one and two `liaison api` processes (LIAISON_API__WORKERS), each point
on a fresh stack and beside its own ceiling measured in the same stack.

Each point's ratio to its own ceiling is what compares across points: on a machine other
work shares, the ceilings move as much as the figures do. The speed-up is given both raw
(the point's rate over the one-process rate) and by ratio (the point's ratio over the
one-process ratio), so a point measured at a busier minute is not read as a loss.

Several processes on one machine share its cores with PostgreSQL, Redis, the GP simulator,
beat and the load generator: this shows what more processes buy on this machine, not on
several (docs/DEPLOYMENT.md scales from the per-process rate).
"""

import argparse
import os
import sys
from dataclasses import dataclass

from bench.common import SAMPLE, bench_stack
from bench.delivery import Drained, drain_with
from bench.intake import CONNECTIONS, start_ceiling
from bench.load import WrkResult, run_wrk
from bench.report import Figure, Machine, Report, number

# Two API processes should come close to twice one where there are cores to spare.
API_TARGET_SPEEDUP = 1.8


@dataclass
class Intake:
    """Peak intake throughput from `api_workers` processes, beside the echo ceiling."""

    api_workers: int
    liaison: WrkResult
    ceiling: WrkResult
    busy_before: float

    @property
    def ratio(self) -> float:
        return self.liaison.rate / self.ceiling.rate if self.ceiling.rate else 0.0


def intake_with(api_workers: int, seconds: float) -> Intake:
    """`liaison api --workers N` on a fresh stack under wrk at CONNECTIONS, then the echo
    ceiling (one process, as figure 1's) in the same stack."""
    busy = Machine.sample().busy_before
    with bench_stack("scaleout", extra_env={"LIAISON_API__WORKERS": str(api_workers)}) as stack:
        stack.launch(["api"])
        body = stack.workdir / "recommendation.json"
        body.write_text(SAMPLE.read_text())
        # A longer wait than Stack.token's 60 s: a loaded machine has taken more to start one.
        token = stack.liaison("token", "--client", "demo-app", timeout=180)

        def peak(url: str) -> WrkResult:
            run_wrk(url, body=body, token=token, connections=CONNECTIONS, seconds=3)  # warm up
            return run_wrk(url, body=body, token=token, connections=CONNECTIONS, seconds=seconds)

        print(f"scaleout: intake with {api_workers} API processes", flush=True)
        liaison = peak(f"{stack.api_url}/v1/recommendations")
        ceiling = peak(f"{start_ceiling(stack)}/v1/recommendations")
    return Intake(api_workers, liaison, ceiling, busy)


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _speedups(rate: float, ratio: float, base_rate: float, base_ratio: float) -> str:
    if not base_rate or not base_ratio:
        return "— | —"
    return f"{rate / base_rate:.2f} x | {ratio / base_ratio:.2f} x"


def _delivery_table(runs: list[tuple[Drained, float]]) -> str:
    # Against the one-process point wherever it came in the sweep (run 4,2,1 to see drift).
    base = next((run for run, _ in runs if run.workers == 1), None)
    lines = [
        "| worker processes | delivered | in s | deliveries/s | ceiling (same run) | ratio "
        "| speed-up (raw) | speed-up (by ratio) | CPU busy before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run, busy in runs:
        ratio = run.rate / run.ceiling
        ups = _speedups(run.rate, ratio, base.rate, base.rate / base.ceiling) if base else "— | —"
        lines.append(
            f"| {run.workers} | {run.done} of {run.deliveries} | {run.seconds:.1f} "
            f"| {number(run.rate)} | {number(run.ceiling)} Bundles/s | {ratio:.3f} | {ups} "
            f"| {busy:.0f} % |"
        )
    return "\n".join(lines)


def _intake_table(runs: list[Intake]) -> str:
    base = next((run for run in runs if run.api_workers == 1), None)
    lines = [
        "| API processes | req/s | echo ceiling (same run) | ratio | speed-up (raw) "
        "| speed-up (by ratio) | errors | CPU busy before |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        ups = (
            _speedups(run.liaison.rate, run.ratio, base.liaison.rate, base.ratio)
            if base
            else "— | —"
        )
        lines.append(
            f"| {run.api_workers} | {number(run.liaison.rate)} | {number(run.ceiling.rate)} req/s "
            f"| {run.ratio:.3f} | {ups} | {run.liaison.errors} | {run.busy_before:.0f} % |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker-processes", default="1,2,4", help="comma-separated counts")
    parser.add_argument("--deliveries", type=int, default=800, help="per point")
    parser.add_argument("--limit", type=float, default=120.0, help="stop waiting after (s)")
    parser.add_argument("--ceiling-bundles", type=int, default=300)
    parser.add_argument("--api-workers", default="1,2", help="comma-separated counts")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each wrk run")
    args = parser.parse_args(argv)

    report = Report("8. Scale-out: worker and API processes", "bench.scaleout", Machine.sample())
    drains: list[tuple[Drained, float]] = []
    for workers in _counts(args.worker_processes):
        busy = Machine.sample().busy_before
        drained = drain_with(
            workers, args.deliveries, limit=args.limit, ceiling_bundles=args.ceiling_bundles
        )
        drains.append((drained, busy))
        report.add(
            Figure(
                f"deliveries drained by {workers} worker process(es)",
                drained.rate,
                "deliveries/s",
                ceiling=drained.ceiling,
            )
        )
    intakes = [intake_with(n, args.seconds) for n in _counts(args.api_workers)]
    one = next((point for point in intakes if point.api_workers == 1), None)
    for point in intakes:
        wanted = one is not None and point.api_workers > 1
        report.add(
            Figure(
                f"intake throughput from {point.api_workers} API process(es)",
                point.liaison.rate,
                "req/s",
                ceiling=point.ceiling.rate,
                target=f"≥ {API_TARGET_SPEEDUP} x one process" if wanted else "",
                met=point.liaison.rate >= API_TARGET_SPEEDUP * one.liaison.rate
                if one is not None and wanted
                else None,
            )
        )
    report.details += [_delivery_table(drains), _intake_table(intakes)]
    report.note(
        f"Deliveries: each point a fresh stack (database, Redis, simulator with 20 practices, "
        f"beat relaying every 0.5 s), {args.deliveries} queued deliveries after a 40-delivery "
        f"warm-up, each `liaison worker` prefork with 4 children; the ceiling is the best of "
        f"1 and 8 plain httpx threads POSTing {args.ceiling_bundles} of the same Bundles to "
        "the same (reset) simulator, as figure 2."
    )
    report.note(
        f"Intake: wrk at {CONNECTIONS} connections for {args.seconds:.0f} s after a 3 s "
        "warm-up, against `liaison api` with LIAISON_API__WORKERS=N (N processes on one "
        "port, each listening on its own SO_REUSEPORT socket), then the one-process echo "
        "ceiling in the same stack, as figure 1."
    )
    report.note(
        f"{os.cpu_count()} cores, shared by every process of each point and by the load "
        "generator: more processes than cores cannot add throughput here."
    )
    report.publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
