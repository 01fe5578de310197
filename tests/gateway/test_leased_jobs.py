"""The leased-job mechanism every job table shares: one claim (one winner, due jobs only,
a lapsed lease taken again) and one rule for retrying or giving up after a failure."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.domain.retry_policy import (
    BUDGET_SPENT,
    Failure,
    GiveUp,
    Retry,
    RetryPolicy,
    after_failure,
)
from gateway.store.models import ChaseUp, Delivery
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.store_samples import store_with_one_recommendation

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=10, cap_seconds=60, budget_seconds=300)
LEASE = timedelta(seconds=30)


def test_a_refusal_is_given_up_at_once_whatever_budget_is_left() -> None:
    then = after_failure(POLICY, 1, Failure(permanent=True), NOW, first_attempt_at=NOW, draw=0.5)
    assert then == GiveUp(refused=True)
    assert then.reason is None


def test_a_transient_failure_waits_with_backoff_no_shorter_than_retry_after() -> None:
    then = after_failure(POLICY, 2, Failure(permanent=False), NOW, first_attempt_at=NOW, draw=0.5)
    assert then == Retry(NOW + timedelta(seconds=10))  # half of 10 * 2**1
    slowed = after_failure(
        POLICY, 2, Failure(False, retry_after=45), NOW, first_attempt_at=NOW, draw=0.5
    )
    assert slowed == Retry(NOW + timedelta(seconds=45))


def test_a_failure_past_the_budget_is_given_up() -> None:
    late = NOW + timedelta(seconds=299)
    then = after_failure(POLICY, 6, Failure(False), late, first_attempt_at=NOW, draw=0.9)
    assert then == GiveUp(refused=False)
    assert then.reason == BUDGET_SPENT


def _store(tmp_path: Path) -> UnitOfWork:
    return store_with_one_recommendation(tmp_path, now=NOW)


def test_two_claims_of_one_due_delivery_have_one_winner(tmp_path: Path) -> None:
    uow = _store(tmp_path)
    uow.deliveries.add(
        Delivery(id="d1", recommendation_id="r1", state="pending", created_at=NOW, updated_at=NOW)
    )
    uow.session.flush()
    assert uow.deliveries.claim("d1", now=NOW, lease=LEASE)
    assert not uow.deliveries.claim("d1", now=NOW, lease=LEASE)
    uow.session.expire_all()
    delivery = uow.deliveries.get("d1")
    assert delivery is not None
    assert (delivery.state, delivery.attempt_count) == ("in-flight", 1)
    assert delivery.first_attempt_at == NOW
    assert delivery.lease_until == NOW + LEASE
    uow.__exit__(None, None, None)


def test_a_chase_up_is_claimed_when_due_or_when_its_sender_s_lease_lapsed(
    tmp_path: Path,
) -> None:
    uow = _store(tmp_path)
    later = NOW + timedelta(minutes=5)
    chase_up = ChaseUp(
        id="c1",
        recommendation_id="r1",
        practice_ods="A12345",
        number=1,
        state="pending",
        next_attempt_at=later,
        created_at=NOW,
    )
    uow.follow_ups.add_chase_up(chase_up)
    uow.session.flush()
    assert not uow.follow_ups.claim_chase_up("c1", now=NOW, lease=LEASE)  # not due yet
    assert uow.follow_ups.claim_chase_up("c1", now=later, lease=LEASE)
    assert not uow.follow_ups.claim_chase_up("c1", now=later, lease=LEASE)  # held
    assert uow.follow_ups.claim_chase_up("c1", now=later + LEASE, lease=LEASE)  # lapsed
    uow.session.expire_all()
    found = uow.follow_ups.get_chase_up("c1")
    assert found is not None
    assert (found.state, found.attempt_count, found.first_attempt_at) == ("sending", 2, later)
    uow.__exit__(None, None, None)
