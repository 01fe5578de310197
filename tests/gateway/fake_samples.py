"""A recommendation submitted through intake onto the in-memory unit of work (tests/fakes.py),
then moved to the status a test needs as the pipeline would have left it: the same rows a
real submission stores (resources, the request delivery, the timeline), without a database."""

from datetime import UTC, datetime

from gateway.cli import sample_recommendation
from gateway.services import intake
from gateway.store.models import Practice
from gateway.store.unit_of_work import UnitOfWork
from tests.fakes import FakeUnitOfWork

PRACTICE = "Y00001"
OTHER_PRACTICE = "Y00002"
NOW = datetime(2026, 3, 10, 9, tzinfo=UTC)


def store() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    for ods in (PRACTICE, OTHER_PRACTICE):
        uow.practices.add(Practice(ods_code=ods, adapter="inbox"))
    uow.commit()
    return uow


def submitted(uow: FakeUnitOfWork | UnitOfWork, status: str, *, delivered: bool = True) -> str:
    """A committed recommendation at PRACTICE in `status`; its request delivered (once tried)
    or, with `delivered=False`, still waiting for its first attempt. A fake's `committed` is
    cleared."""
    command = intake.IntakeCommand("c1", "RX3", None, sample_recommendation(PRACTICE))
    rec_id = intake.submit(uow, command, now=NOW).recommendation_id
    recommendation = uow.recommendations.get(rec_id)
    assert recommendation is not None
    recommendation.status = status
    if delivered:
        (request,) = uow.deliveries.for_recommendation(rec_id)
        request.state, request.attempt_count = "delivered", 1
    uow.commit()
    if isinstance(uow, FakeUnitOfWork):
        uow.committed = False
    return rec_id
