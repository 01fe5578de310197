"""Withdrawing a delivered request at an independent FHIR R4 server (Medplum's FHIR router
over its in-memory repository, run by Node as its own process): the practice's Task and
MedicationRequest become `cancelled`, found by Liaison's delivery identifier, with the
reason, whatever the practice had recorded on them kept."""

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from adapters.errors import TransientAdapterError
from adapters.gp_system import Delivery, DeliveryPurpose
from fhir_profiles.task_status import task_fields_for
from tests.adapters.test_fhir_peer import _delivery, _find, _gp
from tests.peers.servers import MedplumPeer, medplum_peer

REASON = "Withdrawn: the service user has been admitted to hospital"


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedplumPeer]:
    with medplum_peer(tmp_path_factory.mktemp("medplum-withdrawal")) as running:
        yield running


def _withdrawal(sent: Delivery) -> Delivery:
    return replace(sent, purpose=DeliveryPurpose.WITHDRAWAL, withdrawal_reason=REASON)


def test_withdrawing_a_delivered_request_makes_medplum_show_it_cancelled(
    peer: MedplumPeer,
) -> None:
    sent = _delivery()
    with _gp(peer) as gp:
        gp.submit(sent)
        # The practice accepted it and wrote a note on its Task: the withdrawal keeps it.
        [task] = _find(peer, "Task", sent.recommendation_id)
        noted = {**task, **task_fields_for("accepted"), "note": [{"text": "seen by Dr A"}]}
        assert httpx.put(f"{peer.base_url}/Task/{task['id']}", json=noted).status_code == 200

        receipt = gp.submit(_withdrawal(sent))

    [task] = _find(peer, "Task", sent.recommendation_id)
    [order] = _find(peer, "MedicationRequest", sent.recommendation_id)
    assert receipt.created
    assert receipt.remote_reference == task["id"]
    assert task["status"] == "cancelled"
    assert task["statusReason"]["text"] == REASON
    assert task["note"] == [{"text": "seen by Dr A"}]
    assert order["status"] == "cancelled"
    assert order["statusReason"]["text"] == REASON
    # Medplum kept every version: the withdrawal was an update, not a new resource.
    history = httpx.get(f"{peer.base_url}/Task/{task['id']}/_history").json()
    assert len(history["entry"]) == 3  # as sent, accepted with the note, cancelled


class _PracticeChangesItFirst(httpx.HTTPTransport):
    """Before the adapter's first update reaches Medplum, the practice changes the Task:
    the version the adapter read is stale by the time its update arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and "/Task/" in request.url.path and not self.raced:
            self.raced = True
            task = httpx.get(str(request.url)).json()
            changed = {**task, "note": [{"text": "phoned the patient"}]}
            assert httpx.put(str(request.url), json=changed).status_code == 200
        return super().handle_request(request)


def test_a_withdrawal_racing_a_practice_change_is_refused_then_retried_on_the_new_version(
    peer: MedplumPeer,
) -> None:
    sent = _delivery()
    with _gp(peer) as gp:
        gp.submit(sent)
    racing = _PracticeChangesItFirst()
    with _gp(peer, transport=racing, retry_attempts=1) as gp:
        # Medplum answers 412 to the stale If-Match: a transient failure, never an overwrite.
        with pytest.raises(TransientAdapterError):
            gp.submit(_withdrawal(sent))
        [task] = _find(peer, "Task", sent.recommendation_id)
        assert task["status"] != "cancelled"

        gp.submit(_withdrawal(sent))  # the delivery's next attempt reads it again

    [task] = _find(peer, "Task", sent.recommendation_id)
    assert task["status"] == "cancelled"
    assert task["note"] == [{"text": "phoned the patient"}]


def test_a_repeated_withdrawal_changes_nothing_at_medplum(peer: MedplumPeer) -> None:
    sent = _delivery()
    with _gp(peer) as gp:
        gp.submit(sent)
        gp.submit(_withdrawal(sent))
        [before] = _find(peer, "Task", sent.recommendation_id)

        again = gp.submit(_withdrawal(sent))

    [after] = _find(peer, "Task", sent.recommendation_id)
    assert not again.created
    assert after["meta"]["versionId"] == before["meta"]["versionId"]


def test_withdrawing_what_medplum_never_received_cancels_nothing(peer: MedplumPeer) -> None:
    never_sent = _delivery()
    with _gp(peer) as gp:
        receipt = gp.submit(_withdrawal(never_sent))

    assert receipt.remote_reference is None
    assert not receipt.created
    assert _find(peer, "Task", never_sent.recommendation_id) == []
