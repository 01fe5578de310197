"""The bounded chaos run inside `make test`: ~100 recommendations on PostgreSQL + Redis
while the GP side fails half its calls, one practice is down, a worker is SIGKILLed and
Redis restarts. Nothing lost, nothing duplicated at the GP or in notifications."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import ChaosPlan, run_chaos
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.services]

CHAOS_ENV = {
    "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "1",
    "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "1",
    "LIAISON_DELIVERY__LEASE_SECONDS": "10",
    "LIAISON_DELIVERY__RETRY_BASE_SECONDS": "1",
    "LIAISON_DELIVERY__RETRY_CAP_SECONDS": "5",
    "LIAISON_WORKER__CONCURRENCY": "4",
    # Half the GP calls fail on purpose, so the per-practice breaker opens often; a short
    # open period keeps the run about recovery, not about waiting out the breaker.
    "LIAISON_DELIVERY__BREAKER_OPEN_SECONDS": "2",
}


@pytest.fixture
def chaos_stack(tmp_path: Path, postgres_url: str, redis_broker_url: str) -> Iterator[Stack]:
    stack = Stack(
        workdir=tmp_path,
        database_url=postgres_url,
        broker_url=redis_broker_url,
        extra_env=CHAOS_ENV,
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


# About 70 s on an idle 2-core machine (57 s of it draining); the drain may take four times
# that before the test gives up.
@pytest.mark.timeout(480)
def test_bounded_chaos_loses_and_duplicates_nothing(chaos_stack: Stack) -> None:
    plan = ChaosPlan(
        recommendations=100,
        down_seconds=15,
        worker_kills=1,
        restart_broker=True,
        restart_database=False,
        drain_timeout=240,
    )

    report = run_chaos(chaos_stack, plan, broker="redis")

    summary = f"{report}"
    assert report.submitted == 100, summary
    assert report.lost == 0, summary
    assert report.duplicates_at_gp == 0, summary
    assert report.received_at_gp == 100, summary
    assert report.wrong_final_state == 0, summary
    assert report.duplicate_notifications == 0, summary
    assert report.stuck_rows == 0, summary
    assert report.notifications_sent > 0, summary
