"""The walking skeleton, end to end through real processes over HTTP, on both profiles:
recommendation -> FHIR -> GP simulator -> ready -> practitioner and service user told."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.cli import sample_recommendation
from tests.e2e.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

HAPPY_PATH = [
    "received",
    "queued",
    "delivered",
    "accepted",
    "prescription-issued",
    "ready-to-collect",
]


def _run_stack(tmp_path: Path, database_url: str, broker_url: str) -> Iterator[Stack]:
    # Each scripted GP step lasts long enough for a loaded machine's polls to see it.
    stack = Stack(
        workdir=tmp_path,
        database_url=database_url,
        broker_url=broker_url,
        extra_env={"LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "5"},
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def embedded_stack(tmp_path: Path) -> Iterator[Stack]:
    yield from _run_stack(
        tmp_path, f"sqlite:///{tmp_path}/liaison.db", f"sqla+sqlite:///{tmp_path}/broker.db"
    )


@pytest.fixture
def services_stack(tmp_path: Path, postgres_url: str, redis_broker_url: str) -> Iterator[Stack]:
    yield from _run_stack(tmp_path, postgres_url, redis_broker_url)


def _submit(client: httpx.Client, ods_code: str, key: str) -> str:
    response = client.post(
        "/v1/recommendations",
        json=sample_recommendation(ods_code),
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(response.json()["id"])
    return str(response.json()["id"])


def _get(client: httpx.Client, rec_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
    return body


def _walk_the_skeleton(stack: Stack) -> None:
    with stack.client() as client:
        happy = _submit(client, "Y00001", "happy")
        rejected = _submit(client, "Y00002", "rejected")
        down = _submit(client, "Y00004", "down")

        ready = wait_for(
            lambda: (b := _get(client, happy))["status"] in ("ready-to-collect", "collected") and b,
            timeout=60,
            what="Y00001 to be ready to collect",
        )
        statuses = [entry["status"] for entry in ready["timeline"]]
        assert statuses[: len(HAPPY_PATH)] == HAPPY_PATH, statuses

        # Both told, once each: the practitioner by email, the service user by SMS.
        told = wait_for(
            lambda: (
                len(
                    sent := [
                        n
                        for n in _get(client, happy)["notifications"]
                        if n["event"] == "ready-to-collect" and n["status"] == "sent"
                    ]
                )
                == 2
                and sent
            ),
            timeout=15,
            what="both ready notifications",
        )
        assert sorted((n["recipient"], n["channel"]) for n in told) == [
            ("practitioner", "email"),
            ("service-user", "sms"),
        ]
        mail = wait_for(
            lambda: [m for m in stack.mail() if m["subject"] == "Prescription ready to collect"],
            timeout=10,
            what="practitioner email",
        )
        assert [m["rcpt_tos"] for m in mail] == [["alex.morgan@example.nhs.uk"]]
        assert happy in mail[0]["body"]
        sms = [m for m in stack.sms() if m["to"] == "+447700900123"]
        assert len(sms) == 1
        assert "ready to collect" in sms[0]["body"]
        assert "arenicline" not in sms[0]["body"]

        # The practice's reason reaches the timeline and the practitioner.
        refused = wait_for(
            lambda: (b := _get(client, rejected))["status"] == "rejected" and b,
            timeout=60,
            what="Y00002 rejected",
        )
        reason = refused["timeline"][-1]["detail"]
        assert "practice nurse" in reason
        wait_for(
            lambda: any(
                m["subject"] == "GP practice declined your recommendation"
                and "practice nurse" in m["body"]
                for m in stack.mail()
            ),
            timeout=15,
            what="rejection email",
        )

        # The down practice's delivery waits to be retried, its failed attempt recorded,
        # without holding up the others. How soon it is tried again depends on the practice's
        # circuit breaker, which its failing polls also feed (tests/e2e/test_reliability.py
        # and tests/workers/test_gp_isolation.py follow retries to the end).
        retrying = wait_for(
            lambda: (
                (b := _get(client, down))["attempts"]["attempts"] >= 1
                and b["attempts"]["state"] == "retrying"
                and b
            ),
            timeout=60,
            what="Y00004 to be retrying",
        )
        assert retrying["status"] == "queued"
        assert "503" in (retrying["attempts"]["last_error"] or "")

    # Exactly one request per recommendation reached the GP system.
    created_tasks = [r for r in stack.received_at_gp() if r["type"] == "Task"]
    assert sorted(r["ods_code"] for r in created_tasks) == ["Y00001", "Y00002"]


def test_the_embedded_profile_delivers_tells_both_when_ready_and_retries_a_down_practice(
    embedded_stack: Stack,
) -> None:
    _walk_the_skeleton(embedded_stack)


@pytest.mark.services
def test_postgres_and_redis_deliver_tell_both_when_ready_and_retry_a_down_practice(
    services_stack: Stack,
) -> None:
    _walk_the_skeleton(services_stack)


@pytest.fixture
def rabbitmq_stack(tmp_path: Path, postgres_url: str, rabbitmq_broker_url: str) -> Iterator[Stack]:
    yield from _run_stack(tmp_path, postgres_url, rabbitmq_broker_url)


@pytest.mark.services
def test_postgres_and_rabbitmq_deliver_tell_both_when_ready_and_retry_a_down_practice(
    rabbitmq_stack: Stack,
) -> None:
    _walk_the_skeleton(rabbitmq_stack)
