"""An engineer cancelling a bulk replay stops a running batch, leaves a finished one as it
ended, and is told plainly when there is no such batch; progress reads back what the batch
did. Over the in-memory unit of work: none of this needs a database."""

from datetime import UTC, datetime

import pytest

from gateway.domain.errors import NotFound
from gateway.services.delivery_ops import cancel_replay, replay_progress
from gateway.store.models import ReplayBatch
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 3, 10, 9, tzinfo=UTC)


def _store(state: str) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.replays.add(
        ReplayBatch(id="b1", requested_by="ops", criteria={}, state=state, total=5, replayed=2)
    )
    uow.commit()
    uow.committed = False
    return uow


def test_cancelling_a_running_batch_stops_it_and_commits() -> None:
    uow = _store("running")
    out = cancel_replay(uow, "b1", now=NOW)
    assert (out.state, out.total, out.replayed) == ("cancelled", 5, 2)
    assert uow.committed
    uow.rollback()  # committed: a later rollback does not bring the batch back to running
    assert replay_progress(uow, "b1").state == "cancelled"


@pytest.mark.parametrize("ended", ["finished", "cancelled"])
def test_cancelling_a_batch_that_has_ended_leaves_it_as_it_ended(ended: str) -> None:
    uow = _store(ended)
    assert cancel_replay(uow, "b1", now=NOW).state == ended


def test_an_unknown_batch_is_not_found_for_progress_or_cancelling() -> None:
    uow = _store("running")
    with pytest.raises(NotFound):
        replay_progress(uow, "nope")
    with pytest.raises(NotFound):
        cancel_replay(uow, "nope", now=NOW)
