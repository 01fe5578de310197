"""An event reaches each recipient at most once, and a lasting condition opens one alert,
on both databases: the unique key decides, in one INSERT ... ON CONFLICT DO NOTHING."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.store.alert_models import Alert
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Notification, Recommendation
from gateway.store.unit_of_work import UnitOfWork

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _factory(url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def session_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        yield from _factory(f"sqlite:///{tmp_path}/once.db")
    else:
        yield from _factory(request.getfixturevalue("postgres_url"))


def _recommendation(uow: UnitOfWork) -> str:
    recommendation = Recommendation(
        id=str(uuid.uuid4()),
        organisation_ods="RX3",
        client_id="demo-app",
        practitioner_id="p1",
        product="nrt-patch",
        status="received",
        payload={},
    )
    uow.session.add(recommendation)  # flushed by add_once's statement, before it runs
    return recommendation.id


def _notification(recommendation_id: str) -> Callable[[], Notification]:
    def make() -> Notification:
        return Notification(
            id=str(uuid.uuid4()),
            recommendation_id=recommendation_id,
            event="accepted",
            recipient="patient",
            member=0,
            channel="sms",
            status="pending",
            created_at=NOW,
        )

    return make


def test_a_second_notification_for_the_same_event_and_recipient_is_not_added(
    session_factory: sessionmaker[Session],
) -> None:
    with UnitOfWork(session_factory) as uow:
        notification = _notification(_recommendation(uow))
        first = notification()
        assert uow.notifications.add_once(first) is True
        assert uow.notifications.add_once(notification()) is False
        first.status = "sent"  # the row is tracked like any loaded one
        uow.commit()
    with UnitOfWork(session_factory) as uow:
        rows = uow.session.scalars(select(Notification)).all()
        assert [(r.id, r.status, r.attempt_count) for r in rows] == [(first.id, "sent", 0)]


def test_a_second_open_alert_for_the_same_rule_and_subject_is_not_added(
    session_factory: sessionmaker[Session],
) -> None:
    def alert() -> Alert:
        return Alert(
            rule="outbox-lag", subject="outbox", detail="x", first_seen_at=NOW, last_seen_at=NOW
        )

    with UnitOfWork(session_factory) as uow:
        first = alert()
        assert uow.alerts.add_once(first) is True
        assert isinstance(first.id, int)  # the caller reports the alert by its id
        assert uow.alerts.add_once(alert()) is False
        first.resolved_at = NOW
        assert uow.alerts.add_once(alert()) is True  # a new one once the first is resolved
        uow.commit()
    with UnitOfWork(session_factory) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Alert)) == 2
        assert len(uow.alerts.open()) == 1
