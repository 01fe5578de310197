"""Two cancels of one delivered recommendation at once make one withdrawal. The second
transaction read the recommendation before the first committed; under the row lock it sees
the status the first wrote, so the lifecycle refuses a second cancel."""

from datetime import UTC, datetime

import pytest

from gateway.cli import sample_recommendation
from gateway.practice_directory import dev_directory, seed
from gateway.services import intake, withdrawals
from gateway.settings import BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork


@pytest.mark.services
def test_two_cancels_at_once_make_one_withdrawal(postgres_url: str) -> None:
    settings = Settings(
        database=DatabaseSettings(url=postgres_url), broker=BrokerSettings(url="memory://")
    )
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    factory = make_session_factory(engine)
    try:
        with UnitOfWork(factory) as uow:
            seed(uow, dev_directory(settings))
            uow.commit()
        with UnitOfWork(factory) as uow:
            command = intake.IntakeCommand("demo-app", "RX3", None, sample_recommendation("Y00001"))
            rec_id = intake.submit(uow, command, now=datetime.now(UTC)).recommendation_id
        with UnitOfWork(factory) as uow:
            (request,) = uow.deliveries.for_recommendation(rec_id)
            request.state, request.attempt_count = "delivered", 1
            rec = uow.recommendations.get(rec_id)
            assert rec is not None
            rec.status = "delivered"
            uow.commit()

        with UnitOfWork(factory) as late, UnitOfWork(factory) as first:
            seen = late.recommendations.get(rec_id)  # read before the other cancel commits
            assert seen is not None
            assert seen.status == "delivered"
            assert withdrawals.cancel(first, rec_id, reason="first", now=datetime.now(UTC))
            first.commit()

            assert not withdrawals.cancel(late, rec_id, reason="second", now=datetime.now(UTC))
            assert seen.status == "cancelled"
            late.commit()

        with UnitOfWork(factory) as uow:
            purposes = [d.purpose for d in uow.deliveries.for_recommendation(rec_id)]
            cancels = [
                e.detail
                for e in uow.recommendations.timeline(rec_id)
                if e.status == "cancelled" and e.source == "practitioner"
            ]
        assert sorted(purposes) == ["request", "withdrawal"]
        assert cancels == ["first"]
    finally:
        engine.dispose()
