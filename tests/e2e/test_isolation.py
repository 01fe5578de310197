"""No head-of-line blocking, through real processes: one practice's endpoint hangs (every
request held until the test releases it) while another practice's deliveries complete as
usual. The hanging practice never gets more workers than its in-flight limit, and its breaker
shows in /ops/practices. No timing is asserted: the order of events is."""

from typing import Any

import httpx
import pytest

from gateway.cli import sample_recommendation
from tests.e2e.conftest import HANGING_CALL_TIMEOUT_SECONDS, AdaptersStack, HangingPractice
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.e2e

NORMAL = 10
HANGING = 6


def _submit(client: httpx.Client, ods: str, key: str) -> str:
    response = client.post(
        "/v1/recommendations", json=sample_recommendation(ods), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _status(client: httpx.Client, rec_id: str) -> str:
    body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
    return str(body["status"])


def _deliveries_done_while_held(
    client: httpx.Client, hanging: HangingPractice, normal: list[str]
) -> None:
    def normal_done() -> bool:
        # The order of events this test is about: the other practice's deliveries done while
        # every worker sent to the hanging practice still waits in its call. A worker that
        # gave up first (its own timeout) was freed, so it could have been what sent them.
        assert hanging.given_up_posts == 0, (
            f"a worker gave up on H00001 after its {HANGING_CALL_TIMEOUT_SECONDS} s timeout "
            "before N00001's deliveries were done"
        )
        return all(_status(client, r) not in ("received", "queued") for r in normal)

    wait_for(
        normal_done,
        # Past the workers' timeout, so a slow run fails on the message above, naming it.
        timeout=HANGING_CALL_TIMEOUT_SECONDS + 30,
        what="the other practice's deliveries",
    )


def test_a_hanging_practice_does_not_hold_up_another(adapters_stack: AdaptersStack) -> None:
    hanging = adapters_stack.hanging
    try:
        with adapters_stack.stack.client() as client:
            stuck = [_submit(client, "H00001", f"iso-hang-{n}") for n in range(HANGING)]
            wait_for(
                lambda: hanging.held_posts > 0, timeout=30, what="the hanging practice to be called"
            )
            normal = [_submit(client, "N00001", f"iso-normal-{n}") for n in range(NORMAL)]
            _deliveries_done_while_held(client, hanging, normal)
            # Every one of them was delivered while the hanging practice still held its calls
            # and their workers still waited: it has answered none, and none was given up.
            assert (hanging.answered, hanging.given_up_posts) == (0, 0)
            assert hanging.held_posts > 0
            assert not {_status(client, r) for r in normal} & {
                "received",
                "queued",
                "delivery-failed",
            }
            assert {_status(client, r) for r in stuck} <= {"received", "queued"}
            # However many of its deliveries were due, it never had more than its limit of
            # workers.
            assert hanging.most_held_posts <= 2

            view = client.get("/ops/practices/H00001").json()
            assert view["health"]["deliveries_in_flight"] <= 2
            assert view["timeout_seconds"] == HANGING_CALL_TIMEOUT_SECONDS
    finally:
        hanging.release()  # answer 503 from now on: the breaker counts the failures
    with adapters_stack.stack.client() as client:
        assert wait_for(
            lambda: (
                client.get("/ops/practices/H00001").json()["health"]["breaker"][
                    "consecutive_failures"
                ]
                >= 1
            ),
            timeout=60,
            what="the hanging practice's failures to reach its breaker",
        )
