"""4. Time to notify: from the moment the GP side marks a request ready to collect until both
the practitioner's email and the service user's SMS have been sent (their `sent_at`).

- push: the benchmark plays the GP system of practice Y00007 (whose simulated practice never
  acts by itself): it marks the Task ready and at once POSTs it, HMAC-signed, to
  /v1/gp-callbacks/Y00007.
- poll: practice Y00006 on the simulator marks each Task ready exactly three steps after it
  received it; Liaison learns it from its own polls (default interval, 1 s).
Recommendations are submitted through the API a little apart, so the moments of readiness
fall at every phase of the poll cycle.
"""

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, text

from bench.common import SAMPLE, BenchStack, bench_stack, percentile, simulator_practice, wait_until
from bench.report import Figure, Machine, Report
from fhir_profiles import systems
from fhir_profiles.task_status import task_fields_for
from gateway.domain.callback_signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

PUSH_PRACTICE = "Y00007"  # the simulator's practice that never acts by itself
POLL_PRACTICE = "Y00006"  # accepted, prescription issued, ready: one step apart
SECRET_ENV = "LIAISON_PRACTICE_SECRET_BENCH_CALLBACK"
SECRET = "bench-callback-secret-0123456789"
STEP_SECONDS = 4.0
POLL_INTERVAL = 1.0
PHARMACY = "Boots, 1 High Street"


def submit(client: httpx.Client, ods_code: str) -> str:
    body: dict[str, Any] = json.loads(SAMPLE.read_text())
    body["gp_practice"] = {"ods_code": ods_code}
    answer = client.post("/v1/recommendations", json=body)
    answer.raise_for_status()
    return str(answer.json()["id"])


def statuses(engine: Engine, ids: list[str]) -> dict[str, str]:
    with engine.connect() as db:
        rows = db.execute(
            text("SELECT id, status FROM recommendations WHERE id = ANY(:ids)"), {"ids": ids}
        )
        return {str(i): str(s) for i, s in rows}


def both_sent(engine: Engine, ids: list[str]) -> dict[str, datetime]:
    """Recommendation id -> when the later of its two ready-to-collect messages was sent."""
    with engine.connect() as db:
        rows = db.execute(
            text(
                "SELECT recommendation_id, count(*), max(sent_at) FROM notifications "
                "WHERE event = 'ready-to-collect' AND status = 'sent' "
                "AND recipient IN ('practitioner', 'service-user') "
                "AND recommendation_id = ANY(:ids) GROUP BY recommendation_id"
            ),
            {"ids": ids},
        )
        return {str(r): at for r, n, at in rows if n == 2}


def task_of(engine: Engine, recommendation_id: str) -> dict[str, Any]:
    with engine.connect() as db:
        body = db.execute(
            text(
                "SELECT body FROM fhir_resources WHERE recommendation_id = :r "
                "AND resource_type = 'Task'"
            ),
            {"r": recommendation_id},
        ).scalar_one()
    return dict(body)


def push_ready(stack: BenchStack, engine: Engine, recommendation_id: str) -> datetime:
    """Play the GP system: mark the Task ready and call back at once. Returns that moment."""
    task = task_of(engine, recommendation_id)
    task.update(task_fields_for("ready-to-collect", pharmacy=PHARMACY))
    raw = json.dumps(task).encode()
    marked = datetime.now(UTC)
    stamp = str(int(time.time()))
    answer = httpx.post(
        f"{stack.api_url}/v1/gp-callbacks/{PUSH_PRACTICE}",
        content=raw,
        headers={
            "Content-Type": "application/fhir+json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(SECRET, stamp, raw),
        },
        timeout=30,
    )
    if answer.status_code != 200 or answer.json().get("applied") != 1:
        raise RuntimeError(f"callback not applied: {answer.status_code} {answer.text[:300]}")
    return marked


def ready_moments(stack: BenchStack, ids: list[str]) -> dict[str, datetime]:
    """When the simulator's practice marked each Task ready: three steps after receiving it."""
    received = httpx.get(f"{stack.simulator_url}/_sim/received", timeout=30).json()
    moments: dict[str, datetime] = {}
    for row in received:
        if row["type"] != "Task":
            continue
        for identifier in row["identifiers"]:
            if identifier.get("system") == systems.RECOMMENDATION_ID and identifier["value"] in ids:
                at = datetime.fromisoformat(row["received_at"])
                moments[identifier["value"]] = at + timedelta(seconds=3 * STEP_SECONDS)
    return moments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args(argv)

    report = Report("4. Time to notify (ready to collect)", "bench.notify", Machine.sample())
    env = {
        SECRET_ENV: SECRET,
        "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": str(STEP_SECONDS),
        "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": str(POLL_INTERVAL),
        "LIAISON_DELIVERY__RELAY_INTERVAL_SECONDS": "0.5",
        "LIAISON_WORKER__CONCURRENCY": "4",
    }
    with bench_stack(
        "notify",
        extra_env=env,
        practices=lambda s: [
            simulator_practice(s, PUSH_PRACTICE, callback_secret_env=SECRET_ENV),
            simulator_practice(s, POLL_PRACTICE),
        ],
    ) as stack:
        stack.launch(["api", "simulator", "mailsink", "notifysink", "beat"], workers=2)
        engine = stack.engine()
        with stack.client() as client:
            pushed: list[str] = []
            polled: list[str] = []
            for _ in range(args.samples):
                pushed.append(submit(client, PUSH_PRACTICE))
                polled.append(submit(client, POLL_PRACTICE))
                # Readiness at every phase of the 1 s poll cycle.
                time.sleep(0.37)
        wait_until(
            lambda: all(s == "delivered" for s in statuses(engine, pushed).values()),
            timeout=300,
            what="push-practice deliveries",
        )
        push_times: list[float] = []
        for recommendation_id in pushed:
            marked = push_ready(stack, engine, recommendation_id)
            sent = wait_until(
                lambda r=recommendation_id: both_sent(engine, [r]).get(r),  # type: ignore[misc]
                timeout=120,
                interval=0.05,
                what="push notifications",
            )
            push_times.append((sent - marked).total_seconds())
        wait_until(
            lambda: len(both_sent(engine, polled)) == len(polled),
            timeout=600,
            what="poll notifications",
        )
        ready = ready_moments(stack, polled)
        sent_at = both_sent(engine, polled)
        poll_times = [(sent_at[r] - ready[r]).total_seconds() for r in polled]
        engine.dispose()

    poll_target = POLL_INTERVAL / 2 + 1
    for label, times, target, limit in (
        ("push", push_times, "p50 < 1 s", 1.0),
        ("poll", poll_times, f"p50 ≤ {poll_target:.1f} s", poll_target),
    ):
        p50 = percentile(times, 50)
        report.add(
            Figure(
                f"{label}: p50 from ready to both sent",
                p50,
                "s",
                target=target,
                met=p50 < limit if label == "push" else p50 <= limit,
            )
        )
        report.add(Figure(f"{label}: p90 from ready to both sent", percentile(times, 90), "s"))
    report.note(
        f"{args.samples} recommendations each way, submitted through the API. Poll interval "
        f"{POLL_INTERVAL:.0f} s and outbox relay every 0.5 s (the defaults); the simulator's "
        f"practice steps every {STEP_SECONDS:.0f} s. Both messages: the practitioner's email "
        "(SMTP sink) and the service user's SMS (Notify sink); quiet hours off."
    )
    report.note(
        "push: the callback is sent when the GP marks the Task ready, one at a time; the time "
        "runs to the later `sent_at` of the two. poll: from the instant the simulator's Task "
        "became ready (its received time + 3 steps) to the later `sent_at`."
    )
    report.publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
