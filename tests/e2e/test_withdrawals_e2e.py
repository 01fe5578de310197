"""Cancelling reaches the practice, end to end through real processes: Liaison's API,
relay and worker processes, an independent FHIR R4 server (Medplum) as one practice and the
practice inbox as another. The practice's own copy says the request is withdrawn."""

import re
from typing import Any

import httpx
import pytest

from fhir_profiles import systems
from gateway.cli import sample_recommendation
from tests.e2e.conftest import INBOX_PASSWORD, AdaptersStack
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.e2e

REASON = "The service user has asked to wait until after their hospital stay"


def _submit(client: httpx.Client, ods: str, key: str) -> str:
    response = client.post(
        "/v1/recommendations", json=sample_recommendation(ods), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _get(client: httpx.Client, rec_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
    return body


def _timeline_says(client: httpx.Client, rec_id: str, words: str) -> dict[str, Any]:
    def said() -> dict[str, Any] | None:
        body = _get(client, rec_id)
        return body if any(words in (e["detail"] or "") for e in body["timeline"]) else None

    found: dict[str, Any] = wait_for(said, timeout=45, what=f"the timeline to say {words!r}")
    return found


def _medplum(peer_url: str, resource_type: str, rec_id: str) -> list[dict[str, Any]]:
    bundle = httpx.get(
        f"{peer_url}/{resource_type}",
        params={"identifier": f"{systems.RECOMMENDATION_ID}|{rec_id}"},
    ).json()
    return [entry["resource"] for entry in bundle.get("entry", [])]


def test_cancelling_a_delivered_request_makes_medplum_show_it_cancelled(
    adapters_stack: AdaptersStack,
) -> None:
    peer = adapters_stack.medplum.base_url
    with adapters_stack.stack.client() as client:
        rec_id = _submit(client, "M81001", "e2e-withdraw-medplum")
        wait_for(lambda: _get(client, rec_id)["status"] == "delivered", timeout=45, what="delivery")

        cancelled = client.post(f"/v1/recommendations/{rec_id}/cancel", json={"reason": REASON})
        assert cancelled.status_code == 200, cancelled.text
        again = client.post(f"/v1/recommendations/{rec_id}/cancel")
        assert again.status_code == 200

        _timeline_says(client, rec_id, "withdrawal acknowledged by the practice M81001")
        deliveries = client.get("/ops/deliveries", params={"recommendation_id": rec_id}).json()
        purposes = sorted((d["purpose"], d["state"]) for d in deliveries["items"])
        assert purposes == [("request", "delivered"), ("withdrawal", "delivered")]
        own_task = client.get(_get(client, rec_id)["fhir"]["Task"]).json()
        own_order = client.get(_get(client, rec_id)["fhir"]["MedicationRequest"]).json()

    [task] = _medplum(peer, "Task", rec_id)
    [order] = _medplum(peer, "MedicationRequest", rec_id)
    assert task["status"] == "cancelled"
    assert task["statusReason"]["text"] == REASON
    assert order["status"] == "cancelled"
    # Liaison's own /fhir resources say the same.
    assert own_task["status"] == "cancelled"
    assert own_task["statusReason"]["text"] == REASON
    assert own_order["status"] == "cancelled"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_cancelling_shows_the_request_withdrawn_in_the_practice_inbox(
    adapters_stack: AdaptersStack,
) -> None:
    stack = adapters_stack.stack
    with stack.client() as client:
        rec_id = _submit(client, "A81003", "e2e-withdraw-inbox")
        wait_for(lambda: _get(client, rec_id)["status"] == "delivered", timeout=45, what="delivery")
        cancelled = client.post(f"/v1/recommendations/{rec_id}/cancel", json={"reason": REASON})
        assert cancelled.status_code == 200, cancelled.text
        _timeline_says(client, rec_id, "withdrawal acknowledged by the practice A81003")

    with httpx.Client(base_url=stack.api_url, timeout=10, follow_redirects=True) as browser:
        login = browser.get("/inbox/login")
        signed_in = browser.post(
            "/inbox/login",
            data={
                "practice": "A81003",
                "username": "reception",
                "password": INBOX_PASSWORD,
                "csrf_token": _csrf(login.text),
            },
        )
        assert signed_in.status_code == 200, signed_in.text
        page = browser.get(f"/inbox/requests/{rec_id}")
        assert "This request has been withdrawn" in page.text
        assert REASON in page.text
        assert 'name="action"' not in page.text
        refused = browser.post(
            f"/inbox/requests/{rec_id}",
            data={"action": "accept", "csrf_token": _csrf(page.text)},
        )
        assert refused.status_code == 409
