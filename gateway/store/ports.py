"""The unit of work as the use cases (gateway.services) see it (`UnitOfWorkPort`), and as the
practice overview reads it (`PracticeOverviewPort`): the repositories they read and write,
each narrowed to the calls they make.

`gateway.store.unit_of_work.UnitOfWork` satisfies it over SQLAlchemy; tests satisfy it in
memory (tests/fakes.py), so a use case's rules can be tried without migrating a database.
This is the "abstract repository" and "unit of work" pattern of Percival and Gregory,
*Architecture Patterns with Python*, chapters 2 and 6 (https://www.cosmicpython.com/book/).
The rows are the store's ORM classes, kept as plain objects: a use case builds and changes
them, and only the repositories know how they reach the database.

Members are read-only properties: a protocol attribute that may be assigned must match the
concrete class's type exactly, while a property accepts any repository that offers these
calls (https://typing.python.org/en/latest/spec/protocol.html#protocol-members).
"""

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from fhir_profiles.imported_codes import ImportedCodes
from gateway.store.alert_models import Alert
from gateway.store.appointment_models import Appointment
from gateway.store.models import (
    ChaseUp,
    Delivery,
    DeliveryAttempt,
    FhirResource,
    IdempotencyKey,
    InboxUser,
    Notification,
    Practice,
    Recommendation,
    RegistrationCheck,
    ReplayBatch,
    StatusEvent,
    WebhookSubscription,
)
from gateway.store.reminder_models import ReminderPlan
from gateway.store.repositories.deliveries import DeliveryCriteria
from gateway.store.repositories.follow_ups import AwaitingCollection, AwaitingPractice, Ended


class Recommendations(Protocol):
    def add(self, recommendation: Recommendation) -> None: ...

    def get(self, recommendation_id: str) -> Recommendation | None: ...

    def get_for_update(self, recommendation_id: str) -> Recommendation | None: ...

    def at_practice_with_status(
        self, practice_ods: str, statuses: Sequence[str]
    ) -> Sequence[Recommendation]: ...

    def add_resource(self, resource: FhirResource) -> None: ...

    def insert_resources(self, rows: Sequence[dict[str, Any]]) -> None:
        """Many at once, for a writer that never reads them back in its transaction."""
        ...

    def resources_for(
        self, recommendation_id: str, *, types: Collection[str] | None = None
    ) -> Sequence[FhirResource]:
        """Only the resources of `types`, when given."""
        ...

    def update_resource(
        self, resource: FhirResource, body: dict[str, Any], *, now: datetime
    ) -> None: ...

    def add_event(self, event: StatusEvent) -> None: ...

    def insert_event(self, **columns: Any) -> None: ...

    def last_event_at(self, recommendation_id: str, status: str) -> datetime | None: ...

    def find_idempotency_key(self, *, client_id: str, key: str) -> IdempotencyKey | None: ...

    def add_idempotency_key(self, record: IdempotencyKey) -> None: ...


class Deliveries(Protocol):
    def add(self, delivery: Delivery) -> None: ...

    def insert(self, **columns: Any) -> None: ...

    def get(self, delivery_id: str) -> Delivery | None: ...

    def for_recommendation(self, recommendation_id: str) -> Sequence[Delivery]: ...

    def claim(
        self,
        delivery_id: str,
        *,
        now: datetime,
        lease: timedelta,
        in_flight_below: int | None = None,
    ) -> bool:
        """True when this caller now holds the delivery's lease."""
        ...

    def defer_if_waiting(self, delivery_id: str, *, now: datetime, until: datetime) -> bool: ...

    def attempts(self, delivery_id: str) -> Sequence[DeliveryAttempt]: ...


class DeliverySearch(Protocol):
    def find(
        self, criteria: DeliveryCriteria, *, limit: int, offset: int = 0
    ) -> tuple[Sequence[Delivery], int]: ...

    def per_practice(self, criteria: DeliveryCriteria) -> dict[str, int]: ...

    def counts(self) -> list[tuple[str, str, int, datetime | None]]: ...

    def replays_of(self, delivery_id: str) -> Sequence[Delivery]: ...


class ReminderPlans(Protocol):
    def get(self, recommendation_id: str) -> ReminderPlan | None: ...

    def put(self, plan: ReminderPlan) -> ReminderPlan: ...

    def enabled(self) -> Sequence[ReminderPlan]:
        """Enabled plans, in recommendation id order."""
        ...


class Appointments(Protocol):
    def add(self, appointment: Appointment) -> None: ...

    def current(self, recommendation_id: str) -> Appointment | None:
        """The latest by (created_at, id), whatever became of it."""
        ...

    def for_recommendation(self, recommendation_id: str) -> Sequence[Appointment]: ...

    def booked_starting(self, after: datetime, before: datetime) -> Sequence[Appointment]:
        """Booked, starting in [after, before), the recommendation `appointment-booked`."""
        ...


class Notifications(Protocol):
    def add_once(self, notification: Notification) -> bool:
        """False, and nothing written, when (recommendation, event, recipient, member) exists."""
        ...

    def events_for(self, recommendation_id: str, *, prefix: str) -> list[str]: ...


class Outbox(Protocol):
    def add(self, *, kind: str, ref_id: str) -> None: ...

    def insert(self, *, kind: str, ref_id: str) -> None: ...

    def oldest_unpublished_at(self) -> datetime | None: ...


class Engagement(Protocol):
    def webhook(self, organisation_ods: str) -> WebhookSubscription | None: ...


class FollowUps(Protocol):
    def awaiting_practice(self, *, status: str, limit: int) -> list[AwaitingPractice]: ...

    def add_chase_up(self, chase_up: ChaseUp) -> bool:
        """False, and nothing written, when this chase-up number exists (racing planners)."""
        ...

    def get_chase_up(self, chase_up_id: str) -> ChaseUp | None: ...

    def chase_ups_for(self, recommendation_id: str) -> Sequence[ChaseUp]: ...

    def awaiting_collection(self, *, limit: int) -> list[AwaitingCollection]:
        """Ready to collect, oldest latest-ready first."""
        ...

    def ended_between(
        self, statuses: Sequence[str], *, after: datetime, before: datetime, limit: int
    ) -> list[Ended]: ...

    def successor_of(self, recommendation_id: str) -> Recommendation | None: ...


class Replays(Protocol):
    def add(self, batch: ReplayBatch) -> None: ...

    def get(self, batch_id: str) -> ReplayBatch | None: ...

    def get_for_update(self, batch_id: str) -> ReplayBatch | None: ...


class GPLinks(Protocol):
    def lock_practice(self, ods_code: str) -> Practice | None:
        """The practice's row, held until commit so concurrent workers' decisions see each
        other's."""
        ...

    def in_flight_count(self, ods_code: str, *, now: datetime) -> int: ...

    def delivery_by_local_id(self, local_id: str) -> Delivery | None: ...

    def delivery_by_remote_reference(self, reference: str) -> Delivery | None: ...

    def delivery_by_message_id(self, message_id: str) -> Delivery | None: ...

    def chase_up_by_message_id(self, message_id: str) -> ChaseUp | None: ...


class Practices(Protocol):
    def add(self, practice: Practice) -> None: ...

    def get(self, ods_code: str) -> Practice | None: ...

    def list(self) -> Sequence[Practice]:
        """Every practice in the directory, in ODS code order."""
        ...


class Inbox(Protocol):
    def user(self, practice_ods: str, username: str) -> InboxUser | None: ...

    def reserve_attempt(self, user_id: int, *, now: datetime) -> int | None:
        """Attempts since the last success, or None while the account is locked."""
        ...

    def lock(self, user_id: int, *, until: datetime) -> None: ...

    def signed_in(self, user_id: int, *, now: datetime, password_hash: str | None) -> None: ...

    def requests(
        self, practice_ods: str, statuses: Sequence[str], *, limit: int = 200
    ) -> Sequence[Recommendation]: ...

    def withdrawn(self, practice_ods: str, *, limit: int = 50) -> Sequence[Recommendation]: ...


class Alerts(Protocol):
    def open(self) -> Sequence[Alert]: ...

    def add_once(self, alert: Alert) -> bool: ...

    def discard(self, alert: Alert) -> None: ...

    def get(self, alert_id: int) -> Alert | None: ...

    def with_notice_due(self, *, now: datetime, limit: int = 50) -> list[int]: ...

    def claim_notice(self, alert_id: int, *, now: datetime, lease: timedelta) -> bool: ...


class PracticeHealth(Protocol):
    def dead_letters_since(self, since: datetime) -> dict[str, int]: ...

    def open_circuits(self) -> dict[str, str]: ...


class CatalogueCodes(Protocol):
    def imported(self) -> ImportedCodes: ...


class Registrations(Protocol):
    def add(self, check: RegistrationCheck) -> None: ...


class UnitOfWorkPort(Protocol):
    """One transaction: nothing written is kept unless `commit()` is called."""

    @property
    def recommendations(self) -> Recommendations: ...

    @property
    def deliveries(self) -> Deliveries: ...

    @property
    def delivery_search(self) -> DeliverySearch: ...

    @property
    def reminder_plans(self) -> ReminderPlans: ...

    @property
    def appointments(self) -> Appointments: ...

    @property
    def notifications(self) -> Notifications: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def engagement(self) -> Engagement: ...

    @property
    def follow_ups(self) -> FollowUps: ...

    @property
    def replays(self) -> Replays: ...

    @property
    def gp_links(self) -> GPLinks: ...

    @property
    def practices(self) -> Practices: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def alerts(self) -> Alerts: ...

    @property
    def practice_health(self) -> PracticeHealth: ...

    @property
    def catalogue_codes(self) -> CatalogueCodes: ...

    @property
    def registrations(self) -> Registrations: ...

    def flush(self) -> None:
        """Send what is pending to the store inside the transaction, so generated keys and
        constraint failures are known before `commit()`."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class PracticeFollowUps(Protocol):
    """Each a mapping from ODS code, for every practice at once or only `practice_ods`'s."""

    def delivered_to_ready(
        self, *, since: datetime, practice_ods: str | None = None
    ) -> dict[str, list[float]]: ...

    def awaiting(
        self, statuses: Sequence[str], *, practice_ods: str | None = None
    ) -> dict[str, int]: ...

    def chase_ups_sent(
        self, *, since: datetime, practice_ods: str | None = None
    ) -> dict[str, int]: ...


class InFlight(Protocol):
    def in_flight(self, *, now: datetime, practice_ods: str | None = None) -> dict[str, int]: ...


class LastSuccess(Protocol):
    def last_success(self) -> dict[str, datetime]: ...


class DeliveryCounts(Protocol):
    def counts(self) -> list[tuple[str, str, int, datetime | None]]:
        """(practice, state, count, oldest created_at) for every practice and state."""
        ...


class PracticeOverviewPort(Protocol):
    """What the practice overview reads: a separate protocol rather than more members of
    `UnitOfWorkPort`, so the in-memory unit of work the reminder and replay tests use need not
    stand in for aggregate queries it has no use for."""

    @property
    def practices(self) -> Practices: ...

    @property
    def gp_links(self) -> InFlight: ...

    @property
    def follow_ups(self) -> PracticeFollowUps: ...

    @property
    def practice_health(self) -> LastSuccess: ...

    @property
    def delivery_search(self) -> DeliveryCounts: ...


class PracticeWriterPort(Protocol):
    """What writing a practice's directory entry needs (gateway.practice_directory)."""

    @property
    def practices(self) -> Practices: ...


class InFlightPort(Protocol):
    """What one practice's view needs: the deliveries in flight to it."""

    @property
    def gp_links(self) -> InFlight: ...


class PracticeEntryPort(PracticeWriterPort, InFlightPort, Protocol):
    """What the practice-entry use case needs: write the entry, read what is in flight to it
    for the answer, and commit."""

    def commit(self) -> None: ...
