"""A practitioner cancelling: the recommendation is cancelled and the practice that has the
request is sent one withdrawal; a request that never left is stopped instead; a cancel the
lifecycle refuses changes nothing. Over the in-memory unit of work (tests/fakes.py)."""

from gateway.services import withdrawals
from tests.fakes import FakeUnitOfWork
from tests.gateway.fake_samples import NOW, PRACTICE, store, submitted


def _task_status(uow: FakeUnitOfWork, rec_id: str) -> str:
    (task,) = [r for r in uow.recommendations.resources_for(rec_id) if r.resource_type == "Task"]
    return str(task.body["businessStatus"]["coding"][0]["code"])


def test_cancelling_a_delivered_request_sends_the_practice_one_withdrawal_and_commits() -> None:
    uow = store()
    rec_id = submitted(uow, "delivered")
    assert withdrawals.cancel(uow, rec_id, reason="Stopped smoking", now=NOW)
    assert uow.committed
    uow.rollback()  # committed: nothing of it is undone
    recommendation = uow.recommendations.get(rec_id)
    assert recommendation is not None
    assert recommendation.status == "cancelled"
    assert _task_status(uow, rec_id) == "cancelled"  # Liaison's own Task says so too
    deliveries = {d.purpose: d for d in uow.deliveries.for_recommendation(rec_id)}
    withdrawal = deliveries["withdrawal"]
    assert (withdrawal.practice_ods, withdrawal.withdrawal_reason) == (PRACTICE, "Stopped smoking")
    assert withdrawal.withdraws_id == deliveries["request"].id
    assert deliveries["request"].state == "delivered"  # what the practice has stays as it was
    assert ("deliver", withdrawal.id) in uow.outbox.messages
    details = [e.detail or "" for e in uow.recommendations.timeline(rec_id)]
    assert any(d.startswith(f"withdrawal queued for the practice {PRACTICE}") for d in details)


def test_a_request_never_sent_is_stopped_and_nothing_is_withdrawn() -> None:
    uow = store()
    rec_id = submitted(uow, "queued", delivered=False)
    assert withdrawals.cancel(uow, rec_id, reason="Changed their mind", now=NOW)
    (request,) = uow.deliveries.for_recommendation(rec_id)
    assert (request.purpose, request.state) == ("request", "stopped")
    assert request.next_attempt_at is None


def test_a_refused_cancel_commits_nothing() -> None:
    uow = store()
    rec_id = submitted(uow, "collected")
    assert not withdrawals.cancel(uow, rec_id, reason="too late", now=NOW)
    assert not uow.committed
    uow.rollback()  # what the caller's transaction does when it ends
    recommendation = uow.recommendations.get(rec_id)
    assert recommendation is not None
    assert recommendation.status == "collected"
    assert [d.purpose for d in uow.deliveries.for_recommendation(rec_id)] == ["request"]
    assert [e.status for e in uow.recommendations.timeline(rec_id, applied_only=False)] == [
        "received"
    ]
