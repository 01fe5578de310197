"""A unit of work: one transaction, rolled back unless `commit()` is called."""

from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from gateway.store.repositories.alerts import AlertRepository
from gateway.store.repositories.appointments import AppointmentRepository
from gateway.store.repositories.audit import AuditRepository
from gateway.store.repositories.catalogue_codes import CatalogueCodeRepository
from gateway.store.repositories.clients import ClientRepository
from gateway.store.repositories.console_sessions import ConsoleSessionRepository
from gateway.store.repositories.deliveries import DeliveryRepository, DeliverySearch
from gateway.store.repositories.engagement import EngagementRepository
from gateway.store.repositories.fhir_search import FhirSearchRepository
from gateway.store.repositories.follow_ups import FollowUpRepository
from gateway.store.repositories.gp_links import GPLinkRepository
from gateway.store.repositories.inbox import InboxRepository
from gateway.store.repositories.inbox_sessions import InboxSessionRepository
from gateway.store.repositories.notifications import NotificationRepository
from gateway.store.repositories.outbox import OutboxRepository
from gateway.store.repositories.practice_health import PracticeHealth
from gateway.store.repositories.practices import PracticeRepository
from gateway.store.repositories.recommendations import RecommendationRepository
from gateway.store.repositories.registrations import RegistrationRepository
from gateway.store.repositories.reminder_plans import ReminderPlanRepository
from gateway.store.repositories.replays import ReplayRepository


class UnitOfWork:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self.recommendations = RecommendationRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self.delivery_search = DeliverySearch(self.session)
        self.replays = ReplayRepository(self.session)
        self.notifications = NotificationRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.practices = PracticeRepository(self.session)
        self.gp_links = GPLinkRepository(self.session)
        self.inbox = InboxRepository(self.session)
        self.clients = ClientRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.follow_ups = FollowUpRepository(self.session)
        self.engagement = EngagementRepository(self.session)
        self.fhir_search = FhirSearchRepository(self.session)
        self.catalogue_codes = CatalogueCodeRepository(self.session)
        self.alerts = AlertRepository(self.session)
        self.console_sessions = ConsoleSessionRepository(self.session)
        self.inbox_sessions = InboxSessionRepository(self.session)
        self.practice_health = PracticeHealth(self.session)
        self.registrations = RegistrationRepository(self.session)
        self.appointments = AppointmentRepository(self.session)
        self.reminder_plans = ReminderPlanRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.rollback()
        self.session.close()

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
