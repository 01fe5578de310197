"""The FHIR REST adapter against an independent FHIR R4 server nobody on this team wrote:
Medplum's FHIR router over its in-memory repository, run by Node as its own process."""

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.fhir_rest import FhirRestGPSystem
from adapters.gp_system import Delivery
from fhir_profiles import systems
from fhir_profiles.builders import build_resources, build_transaction_bundle
from fhir_profiles.task_status import task_fields_for
from gateway.cli import sample_recommendation
from gateway.services.intake import facts_from_payload
from tests.peers.servers import MedplumPeer, medplum_peer


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedplumPeer]:
    with medplum_peer(tmp_path_factory.mktemp("medplum")) as running:
        yield running


def _delivery(ods: str = "A81001") -> Delivery:
    rec_id = str(uuid.uuid4())
    payload = sample_recommendation(ods)
    facts = facts_from_payload(payload, recommendation_id=rec_id, authored_on=datetime.now(UTC))
    delivery_id = str(uuid.uuid4())
    bundle = build_transaction_bundle(build_resources(facts), delivery_id=delivery_id)
    return Delivery(delivery_id=delivery_id, recommendation_id=rec_id, ods_code=ods, bundle=bundle)


def _gp(peer: MedplumPeer, **options: Any) -> FhirRestGPSystem:
    return FhirRestGPSystem(
        base_url=peer.base_url, task_search="identifier", retry_max_wait=0.01, **options
    )


def _find(peer: MedplumPeer, resource_type: str, rec_id: str) -> list[dict[str, Any]]:
    bundle = httpx.get(
        f"{peer.base_url}/{resource_type}",
        params={"identifier": f"{systems.RECOMMENDATION_ID}|{rec_id}"},
    ).json()
    return [entry["resource"] for entry in bundle.get("entry", [])]


def _move_task(peer: MedplumPeer, rec_id: str, status: str, **fields: Any) -> None:
    [task] = _find(peer, "Task", rec_id)
    updated = {**task, **task_fields_for(status, **fields)}
    response = httpx.put(f"{peer.base_url}/Task/{task['id']}", json=updated)
    assert response.status_code == 200, response.text


@pytest.fixture
def cursor_now(peer: MedplumPeer) -> str:
    # Start after everything other tests left on the shared server.
    with _gp(peer, search_orders=True) as gp:
        return str(gp.fetch_updates(ods_code="A81001", since=None).cursor)


def test_a_delivery_is_created_once_however_often_it_is_sent(peer: MedplumPeer) -> None:
    delivery = _delivery()
    with _gp(peer) as gp:
        first = gp.submit(delivery)
        again = gp.submit(delivery)
    assert first.created
    assert first.remote_reference
    assert not again.created  # Medplum matched the conditional create
    assert again.remote_reference == first.remote_reference
    for resource_type in ("Task", "MedicationRequest", "CommunicationRequest"):
        assert len(_find(peer, resource_type, delivery.recommendation_id)) == 1


def test_task_changes_are_followed_from_a_cursor(peer: MedplumPeer, cursor_now: str) -> None:
    delivery = _delivery()
    with _gp(peer, search_orders=True) as gp:
        gp.submit(delivery)
        nothing_yet = gp.fetch_updates(ods_code="A81001", since=cursor_now)
        assert [
            r for r in nothing_yet.reports if r.recommendation_id == delivery.recommendation_id
        ] == []

        _move_task(peer, delivery.recommendation_id, "accepted")
        batch = gp.fetch_updates(ods_code="A81001", since=nothing_yet.cursor)
        assert [(r.recommendation_id, r.status) for r in batch.reports] == [
            (delivery.recommendation_id, "accepted")
        ]
        _move_task(
            peer, delivery.recommendation_id, "ready-to-collect", pharmacy="Boots, 1 High St"
        )
        later = gp.fetch_updates(ods_code="A81001", since=batch.cursor)
        assert [(r.status, r.pharmacy) for r in later.reports] == [
            ("ready-to-collect", "Boots, 1 High St")
        ]
        assert gp.fetch_updates(ods_code="A81001", since=later.cursor).reports == []


def test_an_order_based_on_the_proposal_means_prescription_issued(
    peer: MedplumPeer, cursor_now: str
) -> None:
    delivery = _delivery()
    with _gp(peer, search_orders=True) as gp:
        gp.submit(delivery)
        [proposal] = _find(peer, "MedicationRequest", delivery.recommendation_id)
        order = {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": proposal["subject"],
            "medicationCodeableConcept": proposal["medicationCodeableConcept"],
            "basedOn": [{"reference": f"MedicationRequest/{proposal['id']}"}],
            "dispenseRequest": {"performer": {"display": "Boots, 1 High St"}},
        }
        created = httpx.post(f"{peer.base_url}/MedicationRequest", json=order)
        assert created.status_code == 201, created.text
        batch = gp.fetch_updates(ods_code="A81001", since=cursor_now)
    issued = [r for r in batch.reports if r.recommendation_id == delivery.recommendation_id]
    assert [(r.status, r.pharmacy) for r in issued] == [("prescription-issued", "Boots, 1 High St")]


def test_calls_per_poll_follow_pages_not_requests(peer: MedplumPeer, cursor_now: str) -> None:
    deliveries = [_delivery() for _ in range(7)]
    with _gp(peer, page_size=3) as gp:
        for delivery in deliveries:
            gp.submit(delivery)
            _move_task(peer, delivery.recommendation_id, "accepted")
        batch = gp.fetch_updates(ods_code="A81001", since=cursor_now)
    seen = {r.recommendation_id for r in batch.reports}
    assert seen >= {d.recommendation_id for d in deliveries}
    assert batch.calls == math.ceil(len(batch.reports) / 3)


def test_the_peer_is_healthy(peer: MedplumPeer, tmp_path: Path) -> None:
    with _gp(peer) as gp:
        assert gp.health()


@pytest.mark.parametrize("word", ["ready to collect", "Ready to collect", " READY TO COLLECT"])
def test_a_pharmacy_word_in_any_case_on_an_independent_server_reads_as_ready(
    peer: MedplumPeer, cursor_now: str, word: str
) -> None:
    delivery = _delivery()
    with _gp(peer) as gp:
        gp.submit(delivery)
        [task] = _find(peer, "Task", delivery.recommendation_id)
        # As a pharmacy system would set it: the Prescription Status Update word, as sent in
        # NHS England's own example ("Ready to collect"), not Liaison's own code.
        task["status"] = "in-progress"
        task["businessStatus"] = {
            "coding": [
                {"system": "https://fhir.nhs.uk/CodeSystem/task-businessStatus-nppt", "code": word}
            ]
        }
        assert httpx.put(f"{peer.base_url}/Task/{task['id']}", json=task).status_code == 200
        batch = gp.fetch_updates(ods_code="A81001", since=cursor_now)
    assert (delivery.recommendation_id, "ready-to-collect") in [
        (r.recommendation_id, r.status) for r in batch.reports
    ]
