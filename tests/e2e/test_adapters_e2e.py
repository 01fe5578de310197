"""Every kind of GP system, end to end through real processes: the GP simulator and an
independent FHIR R4 server (Medplum); MESH through NHS England's mesh-sandbox is
test_mesh_e2e. The test plays each practice through that practice's own interface."""

from typing import Any

import httpx
import pytest

from fhir_profiles import systems
from fhir_profiles.task_status import task_fields_for
from gateway.cli import sample_recommendation
from tests.e2e.conftest import AdaptersStack
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.e2e


def _submit(client: httpx.Client, ods: str, key: str) -> str:
    response = client.post(
        "/v1/recommendations", json=sample_recommendation(ods), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _get(client: httpx.Client, rec_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
    return body


def _reaches(client: httpx.Client, rec_id: str, status: str, timeout: float = 45) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (b := _get(client, rec_id))["status"] == status and b,
        timeout=timeout,
        what=f"{rec_id} to be {status}",
    )
    return found


def _both_told(client: httpx.Client, rec_id: str) -> list[tuple[str, str]]:
    told = wait_for(
        lambda: (
            len(
                sent := [
                    (n["recipient"], n["channel"])
                    for n in _get(client, rec_id)["notifications"]
                    if n["event"] == "ready-to-collect" and n["status"] == "sent"
                ]
            )
            == 2
            and sent
        ),
        timeout=30,
        what="both ready-to-collect notifications",
    )
    return sorted(told)


def test_a_simulator_practice_is_delivered_to_and_accepts(adapters_stack: AdaptersStack) -> None:
    with adapters_stack.stack.client() as client:
        rec_id = _submit(client, "Y00001", "e2e-simulator")
        accepted = _reaches(client, rec_id, "accepted")
    statuses = [e["status"] for e in accepted["timeline"]]
    assert statuses[:3] == ["received", "queued", "delivered"]
    assert statuses[-1] == "accepted"


def _medplum_tasks(peer_url: str, rec_id: str) -> list[dict[str, Any]]:
    bundle = httpx.get(
        f"{peer_url}/Task", params={"identifier": f"{systems.RECOMMENDATION_ID}|{rec_id}"}
    ).json()
    return [entry["resource"] for entry in bundle.get("entry", [])]


def _move(peer_url: str, task: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
    response = httpx.put(
        f"{peer_url}/Task/{task['id']}", json={**task, **task_fields_for(status, **fields)}
    )
    assert response.status_code == 200, response.text
    moved: dict[str, Any] = response.json()
    return moved


def test_a_practice_on_an_independent_fhir_server_moves_its_task_to_ready(
    adapters_stack: AdaptersStack,
) -> None:
    peer = adapters_stack.medplum.base_url
    with adapters_stack.stack.client() as client:
        rec_id = _submit(client, "M81001", "e2e-medplum")
        _reaches(client, rec_id, "delivered")
        [task] = _medplum_tasks(peer, rec_id)  # delivered once
        assert task["status"] == "requested"

        # The practice works through the request on its own FHIR server.
        task = _move(peer, task, "accepted")
        _reaches(client, rec_id, "accepted")
        _move(peer, task, "ready-to-collect", pharmacy="Boots, 1 High Street")
        ready = _reaches(client, rec_id, "ready-to-collect")
        assert ready["timeline"][-1]["status"] == "ready-to-collect"
        assert _both_told(client, rec_id) == [("practitioner", "email"), ("service-user", "sms")]
    assert len(_medplum_tasks(peer, rec_id)) == 1
