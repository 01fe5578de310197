"""Failures are visible and replayable, and a worker killed mid-delivery creates no duplicate
at the GP. Real processes on the embedded profile, with short budgets and leases."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.cli import sample_recommendation
from tests.e2e.stack import Stack, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("reliability")
    stack = Stack(
        workdir=workdir,
        database_url=f"sqlite:///{workdir}/liaison.db",
        broker_url=f"sqla+sqlite:///{workdir}/broker.db",
        extra_env={
            "LIAISON_DELIVERY__RETRY_BUDGET_SECONDS": "6",
            "LIAISON_DELIVERY__LEASE_SECONDS": "4",
            "LIAISON_WORKER__CONCURRENCY": "2",
            # Within the 6 s budget a fast machine makes five failed attempts, which opens the
            # practice's breaker; its default 60 s open period would then hold the replay
            # back longer than the test waits. A short one keeps the test about the replay.
            "LIAISON_DELIVERY__BREAKER_OPEN_SECONDS": "2",
        },
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _submit(client: httpx.Client, ods: str) -> str:
    response = client.post("/v1/recommendations", json=sample_recommendation(ods))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _tasks_for(stack: Stack, ods: str) -> list[dict[str, Any]]:
    return [r for r in stack.received_at_gp() if r["type"] == "Task" and r["ods_code"] == ods]


def test_dead_letter_then_one_replay_delivers_exactly_once(stack: Stack) -> None:
    stack.faults(practice="Y00003", down_seconds=600)
    with stack.client() as client:
        rec_id = _submit(client, "Y00003")

        failed = wait_for(
            lambda: (
                (b := client.get(f"/v1/recommendations/{rec_id}").json())["status"]
                == "delivery-failed"
                and b
            ),
            timeout=40,
            what="the delivery to be dead-lettered",
        )
        assert "retry budget spent" in failed["timeline"][-1]["detail"]
        dead = client.get(
            "/ops/deliveries", params={"state": "dead", "recommendation_id": rec_id}
        ).json()
        assert dead["total"] == 1
        delivery = dead["items"][0]
        assert "503" in delivery["last_error"]
        attempts = client.get(f"/ops/deliveries/{delivery['id']}").json()["attempts"]
        assert len(attempts) == delivery["attempt_count"] >= 2
        assert all(a["status_code"] == 503 for a in attempts)
        # The practitioner is told.
        wait_for(
            lambda: any(
                m["subject"] == "Recommendation could not be delivered" for m in stack.mail()
            ),
            timeout=15,
            what="failure email",
        )
        assert _tasks_for(stack, "Y00003") == []

        stack.faults(practice="Y00003", down_seconds=0)
        replayed = client.post(f"/ops/deliveries/{delivery['id']}/replay")
        assert replayed.status_code == 202

        done = wait_for(
            lambda: (
                (b := client.get(f"/v1/recommendations/{rec_id}").json())["status"]
                == "appointment-needed"
                and b
            ),
            timeout=30,
            what="the replay to be delivered",
        )
        statuses = [e["status"] for e in done["timeline"]]
        assert statuses.count("delivery-failed") == 1
        assert statuses[-3:] == ["queued", "delivered", "appointment-needed"]
    assert len(_tasks_for(stack, "Y00003")) == 1


def test_worker_killed_between_gp_201_and_commit_makes_no_second_request(stack: Stack) -> None:
    # The practice stores the request, then holds its answer: the worker dies waiting.
    stack.faults(practice="Y00001", hold_response_seconds=8)
    with stack.client() as client:
        rec_id = _submit(client, "Y00001")
        wait_for(
            lambda: _tasks_for(stack, "Y00001"),
            timeout=20,
            what="the practice to store the request",
        )
        stack.kill("worker")
        stack.faults(practice="Y00001", hold_response_seconds=0)
        time.sleep(1)
        stack.spawn("worker")

        delivery = wait_for(
            lambda: (
                (
                    page := client.get(
                        "/ops/deliveries",
                        params={"recommendation_id": rec_id, "state": "delivered"},
                    ).json()
                )["items"]
                and page["items"][0]
            ),
            timeout=45,
            what="the delivery to be retried after the lease ran out",
        )
        # The first attempt died with the worker; the retry met the GP's conditional create.
        assert delivery["attempt_count"] >= 2
    tasks = _tasks_for(stack, "Y00001")
    assert len(tasks) == 1, tasks
