"""A unit of work: one transaction, rolled back unless `commit()` is called."""

from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from gateway.store.repositories.deliveries import DeliveryRepository
from gateway.store.repositories.notifications import NotificationRepository
from gateway.store.repositories.outbox import OutboxRepository
from gateway.store.repositories.practices import PracticeRepository
from gateway.store.repositories.recommendations import RecommendationRepository


class UnitOfWork:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self.recommendations = RecommendationRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self.notifications = NotificationRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.practices = PracticeRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
