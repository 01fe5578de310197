"""Withdrawals through the real delivery worker against the GP simulator over HTTP, with a
real database: a cancelled request is withdrawn at the practice once, retried on failure,
dead-lettered after its budget and replayable, and never overtakes or resends its request."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_profiles import systems
from gateway.domain.expiry import ExpiryPolicy
from gateway.services import withdrawals
from gateway.services.reengagement import reopen
from gateway.services.replay import NotReplayable, replay_delivery
from gateway.settings import DeliverySettings
from gateway.store.models import Delivery
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import Peers, make_runtime, running_peers, submit
from workers import delivery, relay
from workers.runtime import Runtime

REASON = "The service user has chosen to stop with support from the trust instead"


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


@pytest.fixture
def rt(tmp_path: Path, peers: Peers) -> Runtime:
    peers.reset()
    return make_runtime(f"sqlite:///{tmp_path}/w.db", peers)


def _sim(peers: Peers) -> str:
    return f"http://127.0.0.1:{peers.simulator_port}"


def _deliveries(rt: Runtime, rec_id: str, purpose: str) -> list[Delivery]:
    with UnitOfWork(rt.session_factory) as uow:
        found = [d for d in uow.deliveries.for_recommendation(rec_id) if d.purpose == purpose]
        for d in found:
            uow.session.expunge(d)
        return found


def _delivered(rt: Runtime, ods: str = "Y00001") -> str:
    rec_id = submit(rt, ods)
    (request,) = _deliveries(rt, rec_id, "request")
    assert delivery.deliver(rt, request.id) == "delivered"
    return rec_id


def _cancel(rt: Runtime, rec_id: str, reason: str = REASON) -> bool:
    with UnitOfWork(rt.session_factory) as uow:
        done = withdrawals.cancel(uow, rec_id, reason=reason, now=datetime.now(UTC))
        uow.commit()
    return done


def _at_practice(peers: Peers, resource_type: str, rec_id: str) -> list[dict[str, Any]]:
    token = f"{systems.RECOMMENDATION_ID}|{rec_id}"
    if resource_type == "Task":
        found = httpx.get(f"{_sim(peers)}/fhir/Task", params={"identifier": token}).json()
        return [e["resource"] for e in found.get("entry", [])]
    tasks = _at_practice(peers, "Task", rec_id)
    out = []
    for task in tasks:
        delivery_id = next(
            i["value"] for i in task["identifier"] if i["system"] == systems.DELIVERY_ID
        )
        found = httpx.get(
            f"{_sim(peers)}/fhir/{resource_type}",
            params={"identifier": f"{systems.DELIVERY_ID}|{delivery_id}"},
        ).json()
        out += [e["resource"] for e in found.get("entry", [])]
    return out


def _updates(peers: Peers) -> int:
    return int(httpx.get(f"{_sim(peers)}/_sim/stats").json()["updates"])


def _timeline(rt: Runtime, rec_id: str) -> list[str]:
    with UnitOfWork(rt.session_factory) as uow:
        return [e.detail or "" for e in uow.recommendations.timeline(rec_id)]


def _practice_down(peers: Peers, ods: str, seconds: float) -> None:
    httpx.put(
        f"{_sim(peers)}/_sim/faults", json={"practice": ods, "down_seconds": seconds}
    ).raise_for_status()


def _make_due(rt: Runtime, delivery_id: str) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        row.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
        uow.commit()


def _state(rt: Runtime, delivery_id: str) -> Delivery:
    with UnitOfWork(rt.session_factory) as uow:
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        uow.session.expunge(row)
        return row


def test_cancelling_a_delivered_request_cancels_it_at_the_practice(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = _delivered(rt)
    assert _cancel(rt, rec_id)
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")

    assert delivery.deliver(rt, withdrawal.id) == "delivered"

    (task,) = _at_practice(peers, "Task", rec_id)
    (order,) = _at_practice(peers, "MedicationRequest", rec_id)
    assert task["status"] == "cancelled"
    assert task["statusReason"] == {"text": REASON}
    assert order["status"] == "cancelled"
    timeline = _timeline(rt, rec_id)
    assert "withdrawal sent to the practice Y00001" in timeline
    assert "withdrawal acknowledged by the practice Y00001" in timeline
    with UnitOfWork(rt.session_factory) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        assert rec.status == "cancelled"  # the withdrawal's success changes no status
        own = {r.resource_type: r.body for r in uow.recommendations.resources_for(rec_id)}
    # Liaison's own resources say the same, with the practitioner's reason.
    assert own["Task"]["status"] == "cancelled"
    assert own["Task"]["statusReason"] == {"text": REASON}
    assert own["MedicationRequest"]["status"] == "cancelled"


def test_a_second_cancel_or_a_redelivered_job_sends_no_second_withdrawal(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = _delivered(rt)
    assert _cancel(rt, rec_id)
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    assert delivery.deliver(rt, withdrawal.id) == "delivered"
    sent = _updates(peers)
    assert sent == 2  # the Task and the MedicationRequest, once each

    # Cancelling again is refused by the lifecycle as "already in this status": no new row.
    assert not _cancel(rt, rec_id)
    with UnitOfWork(rt.session_factory) as uow:
        again = withdrawals.withdraw(uow, rec_id, reason=REASON, now=datetime.now(UTC))
        uow.commit()
    assert again.withdrawals == []
    # The broker hands the same job out again: the claim makes it a no-op.
    assert delivery.deliver(rt, withdrawal.id) == "skipped"
    assert len(_deliveries(rt, rec_id, "withdrawal")) == 1
    assert _updates(peers) == sent


def test_a_withdrawal_to_a_failing_practice_is_retried_until_it_lands(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = _delivered(rt)
    assert _cancel(rt, rec_id)
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    _practice_down(peers, "Y00001", 600)
    try:
        assert delivery.deliver(rt, withdrawal.id) == "retrying"
    finally:
        _practice_down(peers, "Y00001", 0)
    failed = _state(rt, withdrawal.id)
    assert failed.state == "retrying"
    assert failed.next_attempt_at is not None
    assert (_at_practice(peers, "Task", rec_id)[0])["status"] != "cancelled"

    _make_due(rt, withdrawal.id)
    assert delivery.deliver(rt, withdrawal.id) == "delivered"
    assert _at_practice(peers, "Task", rec_id)[0]["status"] == "cancelled"
    with UnitOfWork(rt.session_factory) as uow:
        outcomes = [a.outcome for a in uow.deliveries.attempts(withdrawal.id)]
    assert outcomes == ["transient", "success"]


def test_a_withdrawal_past_its_budget_is_dead_lettered_and_a_replay_sends_it(
    tmp_path: Path, peers: Peers
) -> None:
    peers.reset()
    rt = make_runtime(
        f"sqlite:///{tmp_path}/dead.db", peers, delivery=DeliverySettings(retry_budget_seconds=0.0)
    )
    rec_id = _delivered(rt)
    assert _cancel(rt, rec_id)
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    _practice_down(peers, "Y00001", 600)
    try:
        delivery.deliver(rt, withdrawal.id)  # transient, but no budget left to retry in
    finally:
        _practice_down(peers, "Y00001", 0)
    dead = _state(rt, withdrawal.id)
    assert dead.state == "dead"
    assert dead.last_error
    assert any("withdrawal could not reach the practice Y00001" in d for d in _timeline(rt, rec_id))
    with UnitOfWork(rt.session_factory) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        assert rec.status == "cancelled"  # not "delivery-failed": the request stays cancelled
        told = {(n.event, n.recipient) for n in uow.notifications.for_recommendation(rec_id)}
        assert ("withdrawal-failed", "practitioner") in told
        replay_id = replay_delivery(uow, withdrawal.id, now=datetime.now(UTC))
        uow.commit()

    replay = _state(rt, replay_id)
    assert (replay.purpose, replay.withdraws_id) == ("withdrawal", withdrawal.withdraws_id)
    assert delivery.deliver(rt, replay_id) == "delivered"
    assert _at_practice(peers, "Task", rec_id)[0]["status"] == "cancelled"
    assert "withdrawal replayed" in " ".join(_timeline(rt, rec_id))


def test_a_request_cancelled_before_it_was_sent_is_stopped_not_sent_or_withdrawn(
    rt: Runtime, peers: Peers
) -> None:
    rec_id = submit(rt, "Y00001")
    (request,) = _deliveries(rt, rec_id, "request")
    assert _cancel(rt, rec_id)

    assert _deliveries(rt, rec_id, "withdrawal") == []
    assert _state(rt, request.id).state == "stopped"
    assert delivery.deliver(rt, request.id) == "skipped"
    assert [r for r in peers.simulator_received() if r["type"] == "Task"] == []


def test_a_retrying_request_is_never_sent_again_once_cancelled(rt: Runtime, peers: Peers) -> None:
    rec_id = submit(rt, "Y00001")
    (request,) = _deliveries(rt, rec_id, "request")
    _practice_down(peers, "Y00001", 600)
    try:
        assert delivery.deliver(rt, request.id) == "retrying"
    finally:
        _practice_down(peers, "Y00001", 0)
    assert _cancel(rt, rec_id)
    # It was tried once, so it may have landed: it is withdrawn, and never tried again.
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    assert _state(rt, request.id).state == "stopped"
    with UnitOfWork(rt.session_factory) as uow:
        row = uow.deliveries.get(request.id)
        assert row is not None
        row.state = "dead"  # even dead-lettered, a withdrawn request is never replayed
        with pytest.raises(NotReplayable):
            replay_delivery(uow, request.id, now=datetime.now(UTC))
    # The practice never got it: the withdrawal finds nothing to cancel and says so.
    assert delivery.deliver(rt, withdrawal.id) == "delivered"
    assert any("held no copy of the request" in d for d in _timeline(rt, rec_id))


def test_a_withdrawal_waits_while_its_request_is_mid_attempt(rt: Runtime, peers: Peers) -> None:
    rec_id = _delivered(rt)
    (request,) = _deliveries(rt, rec_id, "request")
    assert _cancel(rt, rec_id)
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    lease_end = datetime.now(UTC) + timedelta(minutes=5)
    with UnitOfWork(rt.session_factory) as uow:
        # A replay of the request is being sent by another worker right now.
        uow.deliveries.add(
            Delivery(
                id="replay-in-flight",
                recommendation_id=rec_id,
                practice_ods="Y00001",
                external_id=request.external_id,
                state="in-flight",
                lease_until=lease_end,
                attempt_count=1,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
        uow.commit()

    assert delivery.deliver(rt, withdrawal.id) == "deferred"
    waiting = _state(rt, withdrawal.id)
    assert waiting.attempt_count == 0  # no attempt made, no budget spent
    assert waiting.next_attempt_at is not None
    assert waiting.next_attempt_at.replace(tzinfo=UTC) >= lease_end - timedelta(seconds=1)
    assert _updates(peers) == 0


def test_the_relay_leaves_a_cancelled_recommendation_cancelled(rt: Runtime) -> None:
    rec_id = _delivered(rt)
    assert _cancel(rt, rec_id)
    published: list[tuple[str, str]] = []
    relay.relay_outbox(rt, lambda kind, ref: published.append((kind, ref)))
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    assert ("deliver", withdrawal.id) in published
    with UnitOfWork(rt.session_factory) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        assert rec.status == "cancelled"
        refused = [e for e in uow.recommendations.timeline(rec_id) if not e.applied]
    assert refused == []  # no refused "queued" on the timeline


def test_re_opening_a_failed_request_withdraws_the_old_one_from_the_practice(
    tmp_path: Path, peers: Peers
) -> None:
    peers.reset()
    rt = make_runtime(
        f"sqlite:///{tmp_path}/reopen.db",
        peers,
        delivery=DeliverySettings(retry_budget_seconds=0.0),
    )
    rec_id = submit(rt, "Y00001")
    (request,) = _deliveries(rt, rec_id, "request")
    _practice_down(peers, "Y00001", 600)
    try:
        delivery.deliver(rt, request.id)  # may have landed before the practice failed
    finally:
        _practice_down(peers, "Y00001", 0)
    with UnitOfWork(rt.session_factory) as uow:
        predecessor = uow.recommendations.get(rec_id)
        assert predecessor is not None
        assert predecessor.status == "delivery-failed"
        result = reopen(
            uow,
            predecessor=predecessor,
            client_id="demo-app",
            idempotency_key=None,
            payload=dict(predecessor.payload),
            now=datetime.now(UTC),
            policy=ExpiryPolicy(),
        )
        uow.commit()

    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    assert withdrawal.withdrawal_reason == withdrawals.REOPENED_REASON
    assert withdrawal.withdraws_id == request.id
    assert len(_deliveries(rt, result.recommendation_id, "request")) == 1
    assert delivery.deliver(rt, withdrawal.id) == "delivered"


def test_cancelling_a_failed_request_withdraws_it_and_takes_it_off_the_dead_list(
    tmp_path: Path, peers: Peers
) -> None:
    peers.reset()
    rt = make_runtime(
        f"sqlite:///{tmp_path}/failed.db",
        peers,
        delivery=DeliverySettings(retry_budget_seconds=0.0),
    )
    rec_id = submit(rt, "Y00001")
    (request,) = _deliveries(rt, rec_id, "request")
    _practice_down(peers, "Y00001", 600)
    try:
        delivery.deliver(rt, request.id)
    finally:
        _practice_down(peers, "Y00001", 0)
    assert _state(rt, request.id).state == "dead"

    assert _cancel(rt, rec_id)

    # A bulk replay of dead deliveries can no longer send the cancelled request again.
    assert _state(rt, request.id).state == "stopped"
    (withdrawal,) = _deliveries(rt, rec_id, "withdrawal")
    assert withdrawal.withdraws_id == request.id
