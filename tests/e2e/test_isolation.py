"""No head-of-line blocking, through real processes: one practice's endpoint hangs (every
request held, 30 s and longer) while another practice's deliveries complete as usual. The
hanging practice never gets more workers than its in-flight limit, and its breaker shows in
/ops/practices. No timing is asserted: the order of events is."""

import time
from typing import Any

import httpx
import pytest

from gateway.cli import sample_recommendation
from tests.e2e.conftest import HANG_SECONDS, AdaptersStack
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.e2e

NORMAL = 10
HANGING = 6
# The other practice's deliveries must be done while the first held call is still held:
# stop waiting this long before that call's hang would end, so a slow run fails here with a
# clear message instead of on an `answered == 0` that only says the hang ran out.
HANG_MARGIN_SECONDS = 10.0


def _submit(client: httpx.Client, ods: str, key: str) -> str:
    response = client.post(
        "/v1/recommendations", json=sample_recommendation(ods), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _status(client: httpx.Client, rec_id: str) -> str:
    body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
    return str(body["status"])


def test_a_hanging_practice_does_not_hold_up_another(adapters_stack: AdaptersStack) -> None:
    hanging = adapters_stack.hanging
    with adapters_stack.stack.client() as client:
        stuck = [_submit(client, "H00001", f"iso-hang-{n}") for n in range(HANGING)]
        wait_for(
            lambda: hanging.held_posts > 0, timeout=30, what="the hanging practice to be called"
        )

        hang_began = time.monotonic()
        normal = [_submit(client, "N00001", f"iso-normal-{n}") for n in range(NORMAL)]

        def normal_done() -> bool:
            # Fail at once, naming the cause, if the hang ended first: the order of events
            # this test asserts can no longer be seen.
            assert hanging.answered == 0, (
                f"the hanging practice answered {time.monotonic() - hang_began:.0f}s into "
                f"its {HANG_SECONDS:.0f}s hang, before N00001's deliveries were done"
            )
            return all(_status(client, r) not in ("received", "queued") for r in normal)

        wait_for(
            normal_done,
            timeout=HANG_SECONDS - HANG_MARGIN_SECONDS - (time.monotonic() - hang_began),
            what="the other practice's deliveries (before the hanging practice's hang ends)",
        )
        print(
            f"{NORMAL} deliveries to N00001 done {time.monotonic() - hang_began:.1f}s into the hang"
        )
        # Every one of them was delivered while the hanging practice still held its calls:
        # it has answered none yet.
        assert hanging.answered == 0
        assert hanging.held_posts > 0
        assert not {_status(client, r) for r in normal} & {"received", "queued", "delivery-failed"}
        assert {_status(client, r) for r in stuck} <= {"received", "queued"}
        # However many of its deliveries were due, it never had more than its limit of workers.
        assert hanging.most_held_posts <= 2

        view = client.get("/ops/practices/H00001").json()
        assert view["health"]["deliveries_in_flight"] <= 2
        assert view["timeout_seconds"] == 40

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
