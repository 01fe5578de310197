"""Re-opening: a practitioner may re-open a rejected, cancelled or failed recommendation once,
which creates its linked successor; one still in progress, or already re-opened, is refused
with the reason and nothing is kept. Over the in-memory unit of work (tests/fakes.py)."""

import pytest

from gateway.cli import sample_recommendation
from gateway.domain.errors import ErrorKind
from gateway.domain.expiry import ExpiryPolicy
from gateway.services.intake import IntakeResult
from gateway.services.reengagement import ReopenRefused, reopen
from tests.fakes import FakeUnitOfWork
from tests.gateway.fake_samples import NOW, PRACTICE, store, submitted


def _reopen(uow: FakeUnitOfWork, rec_id: str) -> IntakeResult:
    predecessor = uow.recommendations.get(rec_id)
    assert predecessor is not None
    return reopen(
        uow,
        predecessor=predecessor,
        client_id="c1",
        idempotency_key=None,
        payload=sample_recommendation(PRACTICE),
        now=NOW,
        policy=ExpiryPolicy(),
    )


def test_a_rejected_recommendation_is_reopened_as_its_linked_successor() -> None:
    uow = store()
    rec_id = submitted(uow, "rejected")
    result = _reopen(uow, rec_id)
    assert uow.committed
    uow.rollback()
    successor = uow.recommendations.get(result.recommendation_id)
    assert successor is not None
    assert (successor.predecessor_id, successor.status) == (rec_id, "received")
    original = uow.recommendations.get(rec_id)
    assert original is not None
    assert original.status == "rejected"
    assert [d.purpose for d in uow.deliveries.for_recommendation(successor.id)] == ["request"]


def test_a_recommendation_still_in_progress_is_refused_and_nothing_is_kept() -> None:
    uow = store()
    rec_id = submitted(uow, "accepted")
    with pytest.raises(ReopenRefused) as refused:
        _reopen(uow, rec_id)
    assert refused.value.kind is ErrorKind.CONFLICT
    assert "'accepted' is still in progress" in str(refused.value)
    assert not uow.committed
    uow.rollback()
    assert uow.follow_ups.successor_of(rec_id) is None
    original = uow.recommendations.get(rec_id)
    assert original is not None
    assert original.status == "accepted"


def test_reopening_twice_is_refused_naming_the_successor() -> None:
    uow = store()
    rec_id = submitted(uow, "cancelled")
    first = _reopen(uow, rec_id)
    uow.committed = False
    with pytest.raises(ReopenRefused) as refused:
        _reopen(uow, rec_id)
    assert str(refused.value) == f"already re-opened as {first.recommendation_id}"
    assert not uow.committed
    successors = [r.id for r in uow.working.recommendations.values() if r.predecessor_id == rec_id]
    assert successors == [first.recommendation_id]
