"""The unit of work as the reminder and replay-batch use cases see it (`UnitOfWorkPort`), and
as the practice overview reads it (`PracticeOverviewPort`): the repositories they read and
write, each narrowed to the calls they make.

`gateway.store.unit_of_work.UnitOfWork` satisfies it over SQLAlchemy; tests satisfy it in
memory (tests/fakes.py), so a use case's rules can be tried without migrating a database.
This is the "abstract repository" and "unit of work" pattern of Percival and Gregory,
*Architecture Patterns with Python*, chapters 2 and 6 (https://www.cosmicpython.com/book/).

Members are read-only properties: a protocol attribute that may be assigned must match the
concrete class's type exactly, while a property accepts any repository that offers these
calls (https://typing.python.org/en/latest/spec/protocol.html#protocol-members).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from gateway.store.appointment_models import Appointment
from gateway.store.models import (
    Notification,
    Practice,
    Recommendation,
    ReplayBatch,
    WebhookSubscription,
)
from gateway.store.reminder_models import ReminderPlan
from gateway.store.repositories.follow_ups import AwaitingCollection


class Recommendations(Protocol):
    def get(self, recommendation_id: str) -> Recommendation | None: ...

    def get_for_update(self, recommendation_id: str) -> Recommendation | None: ...


class ReminderPlans(Protocol):
    def get(self, recommendation_id: str) -> ReminderPlan | None: ...

    def put(self, plan: ReminderPlan) -> ReminderPlan: ...

    def enabled(self) -> Sequence[ReminderPlan]:
        """Enabled plans, in recommendation id order."""
        ...


class Appointments(Protocol):
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


class Engagement(Protocol):
    def webhook(self, organisation_ods: str) -> WebhookSubscription | None: ...


class FollowUps(Protocol):
    def awaiting_collection(self, *, limit: int) -> list[AwaitingCollection]:
        """Ready to collect, oldest latest-ready first."""
        ...


class Replays(Protocol):
    def get(self, batch_id: str) -> ReplayBatch | None: ...

    def get_for_update(self, batch_id: str) -> ReplayBatch | None: ...


class UnitOfWorkPort(Protocol):
    """One transaction: nothing written is kept unless `commit()` is called."""

    @property
    def recommendations(self) -> Recommendations: ...

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

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class Practices(Protocol):
    def get(self, ods_code: str) -> Practice | None: ...

    def list(self) -> Sequence[Practice]:
        """Every practice in the directory, in ODS code order."""
        ...


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
