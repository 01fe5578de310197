"""Run a bulk replay to its end, one committed batch at a time (cancellable between batches)."""

from datetime import UTC, datetime

from gateway.services.replay import run_batch_step
from gateway.store.unit_of_work import UnitOfWork
from workers.runtime import Runtime


def run_replay_batch(rt: Runtime, batch_id: str, *, size: int = 50) -> None:
    more = True
    while more:
        with UnitOfWork(rt.session_factory) as uow:
            more = run_batch_step(uow, batch_id, now=datetime.now(UTC), size=size)
