"""Combination NRT at an independent FHIR R4 server (Medplum's FHIR router over its in-memory
repository, run by Node as its own process): every medicine's MedicationRequest is created
once however often the delivery is sent, in one group, and a withdrawal cancels them all.

Medplum refuses a transaction of conditional creates with more than 8 entries ("requires
strict isolation but has too many entries", @medplum/fhir-router): a delivery is 3 parties,
the CommunicationRequest, the Task, one MedicationRequest per medicine and the flag when
raised, so these cases stay at 8 (docs/FHIR.md, known limits)."""

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from adapters.gp_system import Delivery, DeliveryPurpose
from fhir_profiles import systems
from fhir_profiles.builders import build_resources, build_transaction_bundle
from gateway.cli import sample_recommendation
from gateway.services.intake import facts_from_payload
from tests.adapters.test_fhir_peer import _find, _gp
from tests.peers.servers import MedplumPeer, medplum_peer

MEDICINES = ("nicotine-21mg-24h-patches", "nicotine-2mg-gum", "nicotine-1mg-mouth-spray")
# (medicines, current medicines): two with the clozapine flag, three without a flag.
CASES = [(MEDICINES[:2], [{"name": "clozapine"}]), (MEDICINES, [])]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedplumPeer]:
    with medplum_peer(tmp_path_factory.mktemp("medplum-combination")) as running:
        yield running


def _combination(
    medicines: tuple[str, ...], current: list[dict[str, str]], ods: str = "A81001"
) -> Delivery:
    rec_id = str(uuid.uuid4())
    patch, *others = ({"product": key, "dose_text": "As directed"} for key in medicines)
    payload = {
        **sample_recommendation(ods),
        "medication": patch,
        "combination": others,
        "current_medications": current,
    }
    facts = facts_from_payload(payload, recommendation_id=rec_id, authored_on=datetime.now(UTC))
    delivery_id = str(uuid.uuid4())
    bundle = build_transaction_bundle(build_resources(facts), delivery_id=delivery_id)
    return Delivery(delivery_id=delivery_id, recommendation_id=rec_id, ods_code=ods, bundle=bundle)


@pytest.mark.parametrize(("medicines", "current"), CASES)
def test_every_medicine_is_created_once_however_often_the_delivery_is_sent(
    peer: MedplumPeer, medicines: tuple[str, ...], current: list[dict[str, str]]
) -> None:
    delivery = _combination(medicines, current)
    assert len(delivery.bundle["entry"]) == 8
    with _gp(peer) as gp:
        assert gp.submit(delivery).created
        assert not gp.submit(delivery).created  # Medplum matched every conditional create

    requests = _find(peer, "MedicationRequest", delivery.recommendation_id)
    codes = sorted(r["medicationCodeableConcept"]["coding"][0]["code"] for r in requests)
    assert codes == sorted(medicines)
    group = {"system": systems.RECOMMENDATION_ID, "value": delivery.recommendation_id}
    assert all(r["groupIdentifier"] == group for r in requests)
    [task] = _find(peer, "Task", delivery.recommendation_id)
    [patch] = [r for r in requests if "patches" in r["medicationCodeableConcept"]["text"]]
    assert task["focus"]["reference"] == f"MedicationRequest/{patch['id']}"


def test_a_withdrawal_cancels_every_medicine(peer: MedplumPeer) -> None:
    sent = _combination(MEDICINES, [])
    with _gp(peer) as gp:
        gp.submit(sent)
        gp.submit(
            replace(sent, purpose=DeliveryPurpose.WITHDRAWAL, withdrawal_reason="Not going ahead")
        )

    requests = _find(peer, "MedicationRequest", sent.recommendation_id)
    assert len(requests) == 3
    assert {r["status"] for r in requests} == {"cancelled"}
