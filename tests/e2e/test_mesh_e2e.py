"""GP Connect Send Document over MESH, end to end through Liaison's real processes and NHS
England's mesh-sandbox, with the simulated MESH practice playing each practice's system.

Checked: the request arrives in the practice's mailbox under GPCONNECT_SEND_DOCUMENT as an
ITK3 message (STU3 Bundle of type message, fhir.resources' STU3 models) whose PDF names the
medicine and the safety flag; the practice's ITK3 infrastructure and business responses
(Send Document GPCM-SD-040/041 ranges) move it to delivered, "filed"; a negative business
response ends it failed with the ITK code, for the practitioner and in the console, and a
replay from the console sends it once more as the same document; cancelling a filed request
sends a withdrawal letter, the next version of the same document."""

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mesh_client import MeshClient

from adapters.standins.mesh_practice import Answered, PracticeScript, SimulatedMeshPractice
from fhir_profiles.send_document.contract import WORKFLOW_ID
from gateway.cli import sample_recommendation
from tests.e2e.conftest import REFUSING_MAILBOX, AdaptersStack
from tests.e2e.stack import wait_for
from tests.mesh_letters import composition, letter_text
from tests.peers.servers import LIAISON_MAILBOX, MESH_PASSWORD, MESH_SHARED_KEY, PRACTICE_MAILBOX

pytestmark = pytest.mark.e2e


def _practice(stack: AdaptersStack, mailbox: str) -> MeshClient:
    return MeshClient(stack.mesh.url, mailbox, MESH_PASSWORD, shared_key=MESH_SHARED_KEY.encode())


@pytest.fixture
def filing(adapters_stack: AdaptersStack) -> Iterator[SimulatedMeshPractice]:
    with _practice(adapters_stack, PRACTICE_MAILBOX) as client:
        yield SimulatedMeshPractice(client, mailbox=PRACTICE_MAILBOX)


@pytest.fixture
def refusing(adapters_stack: AdaptersStack) -> Iterator[SimulatedMeshPractice]:
    with _practice(adapters_stack, REFUSING_MAILBOX) as client:
        yield SimulatedMeshPractice(client, PracticeScript(business="30003"), REFUSING_MAILBOX)


def _submit(client: httpx.Client, ods: str, key: str) -> str:
    response = client.post(
        "/v1/recommendations", json=sample_recommendation(ods), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _get(client: httpx.Client, rec_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
    return body


def _reaches(client: httpx.Client, rec_id: str, status: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (b := _get(client, rec_id))["status"] == status and b,
        timeout=45,
        what=f"{rec_id} to be {status}",
    )
    return found


def _details(body: dict[str, Any]) -> list[str]:
    return [e.get("detail") or "" for e in body["timeline"]]


def _answered(practice: SimulatedMeshPractice) -> Answered:
    [answer] = wait_for(practice.answer_waiting, timeout=45, what="a message for the practice")
    return answer


def _console(stack: AdaptersStack) -> httpx.Client:
    """An integration engineer signed in to the console with the demo token (ops scope)."""
    token = stack.stack.liaison("token", "--client", "demo-app")
    console = httpx.Client(base_url=stack.stack.api_url, timeout=10)
    page = console.get("/console/login").text
    form_token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert form_token
    signed_in = console.post(
        "/console/login",
        data={"token": token, "form_token": form_token.group(1), "next": "/console/"},
    )
    assert signed_in.status_code == 303, signed_in.text  # signed in: on to the console
    return console


def test_a_request_is_filed_by_the_practice_then_withdrawn_by_letter(
    adapters_stack: AdaptersStack, filing: SimulatedMeshPractice
) -> None:
    with adapters_stack.stack.client() as client:
        rec_id = _submit(client, "A81002", "e2e-mesh")
        request = _answered(filing)

        assert request.workflow_id == WORKFLOW_ID
        assert request.codes == ("20013", "30001")  # checked and parsed before answering
        letter = letter_text(request).lower()
        assert "varenicline" in letter
        assert "clozapine" in letter
        filed = _reaches(client, rec_id, "delivered")
        assert "request received by the practice system" in _details(filed)
        assert "filed in the practice's workflow (ITK3 business response)" in _details(filed)

        cancelled = client.post(f"/v1/recommendations/{rec_id}/cancel", json={"reason": "Quit"})
        assert cancelled.status_code == 200, cancelled.text
        withdrawal = _answered(filing)
        assert withdrawal.workflow_id == WORKFLOW_ID
        assert composition(withdrawal)["identifier"] == composition(request)["identifier"]
        assert composition(withdrawal)["meta"]["versionId"] == "2"
        wait_for(
            lambda: "withdrawal filed in the practice's workflow" in _details(_get(client, rec_id)),
            timeout=45,
            what="the withdrawal filed",
        )
        assert _get(client, rec_id)["status"] == "cancelled"
    # Liaison acknowledged every response: nothing is left in its mailbox.
    with MeshClient(
        adapters_stack.mesh.url, LIAISON_MAILBOX, MESH_PASSWORD, shared_key=MESH_SHARED_KEY.encode()
    ) as liaison_side:
        assert wait_for(
            lambda: liaison_side.list_messages() == [], timeout=15, what="an empty inbox"
        )


def test_a_refused_request_fails_with_the_itk_code_and_a_replay_sends_it_again(
    adapters_stack: AdaptersStack, refusing: SimulatedMeshPractice
) -> None:
    with adapters_stack.stack.client() as client:
        rec_id = _submit(client, "A81006", "e2e-mesh-refused")
        first = _answered(refusing)
        assert first.codes == ("20013", "30003")
        failed = _reaches(client, rec_id, "delivery-failed")
        [why] = [e["detail"] for e in failed["timeline"] if e["status"] == "delivery-failed"]
        assert "ITK3 business response 30003" in why
        assert "Patient no longer at this clinical setting" in why
        assert "telephone the practice" in why
        listing = client.get("/ops/deliveries", params={"recommendation_id": rec_id}).json()
        [dead] = [d for d in listing["items"] if d["state"] == "dead"]

    console = _console(adapters_stack)
    try:
        page = console.get(f"/console/deliveries/{dead['id']}").text
        assert "30003" in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        replayed = console.post(
            f"/console/deliveries/{dead['id']}/replay", data={"csrf_token": csrf.group(1)}
        )
        assert replayed.status_code == 303, replayed.text  # queued: on to the new delivery
    finally:
        console.close()

    again = _answered(refusing)
    # Once more, as the same document and version, in a new message.
    assert composition(again)["identifier"] == composition(first)["identifier"]
    assert composition(again)["meta"]["versionId"] == "1"
    assert again.document is not None
    assert first.document is not None
    assert again.document["id"] != first.document["id"]
