"""An in-memory unit of work (gateway.store.ports.UnitOfWorkPort) for use-case tests that
gain nothing from a database: the reminder rules, record_event's once-per-recipient rule,
a replay batch's progress and cancellation, intake, cancelling and withdrawing, re-opening,
replaying one delivery and the practice inbox's decisions. It answers the calls those use
cases make; a use case that reaches for another fails loudly (AttributeError).

The pattern is Percival and Gregory's FakeRepository / FakeUnitOfWork (*Architecture
Patterns with Python*, chapters 2 and 6, https://www.cosmicpython.com/book/). Rows are the
real ORM classes, kept unattached to any session. Like the real unit of work, nothing
survives `rollback()` (or leaving the `with` block) unless `commit()` came first: the store
keeps copies taken at commit, so a change made in place to a row read earlier is undone too.
tests/gateway/test_fake_unit_of_work.py runs the same calls on this and on the real one.
"""

import copy
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import inspect

from fhir_profiles.imported_codes import ImportedCodes
from gateway.store.appointment_models import Appointment
from gateway.store.models import (
    Base,
    ChaseUp,
    Delivery,
    FhirResource,
    IdempotencyKey,
    Notification,
    Practice,
    Recommendation,
    ReplayBatch,
    StatusEvent,
    WebhookSubscription,
)
from gateway.store.reminder_models import ReminderPlan
from gateway.store.repositories.follow_ups import AwaitingCollection

Row = TypeVar("Row", bound=Base)


def _clone(row: Row) -> Row:
    """A detached copy of every mapped column (JSON columns copied deeply)."""
    attrs = inspect(type(row)).column_attrs
    return type(row)(**{a.key: copy.deepcopy(getattr(row, a.key)) for a in attrs})


def _with_defaults(row: Row) -> Row:
    """Fill the column defaults a flush would (created_at, enabled, kinds...)."""
    for attr in inspect(type(row)).column_attrs:
        default = attr.columns[0].default
        if getattr(row, attr.key) is None and default is not None:
            # SQLAlchemy wraps a callable default to take the execution context.
            value = default.arg(None) if default.is_callable else default.arg
            setattr(row, attr.key, value)
    return row


@dataclass
class Tables:
    """The store's rows, by primary key."""

    recommendations: dict[str, Recommendation] = field(default_factory=dict)
    status_events: list[StatusEvent] = field(default_factory=list)
    plans: dict[str, ReminderPlan] = field(default_factory=dict)
    appointments: dict[str, Appointment] = field(default_factory=dict)
    notifications: dict[str, Notification] = field(default_factory=dict)
    outbox: list[tuple[str, str]] = field(default_factory=list)  # (kind, ref_id)
    webhooks: dict[str, WebhookSubscription] = field(default_factory=dict)
    replays: dict[str, ReplayBatch] = field(default_factory=dict)
    practices: dict[str, Practice] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    resources: dict[str, FhirResource] = field(default_factory=dict)
    # The versions a resource's update replaced: (resource id, version id, body).
    resource_versions: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    idempotency_keys: dict[tuple[str, str], IdempotencyKey] = field(default_factory=dict)
    chase_ups: dict[str, ChaseUp] = field(default_factory=dict)

    def copy(self) -> "Tables":
        return Tables(
            recommendations={k: _clone(v) for k, v in self.recommendations.items()},
            status_events=[_clone(e) for e in self.status_events],
            plans={k: _clone(v) for k, v in self.plans.items()},
            appointments={k: _clone(v) for k, v in self.appointments.items()},
            notifications={k: _clone(v) for k, v in self.notifications.items()},
            outbox=list(self.outbox),
            webhooks={k: _clone(v) for k, v in self.webhooks.items()},
            replays={k: _clone(v) for k, v in self.replays.items()},
            practices={k: _clone(v) for k, v in self.practices.items()},
            deliveries={k: _clone(v) for k, v in self.deliveries.items()},
            resources={k: _clone(v) for k, v in self.resources.items()},
            resource_versions=copy.deepcopy(self.resource_versions),
            idempotency_keys={k: _clone(v) for k, v in self.idempotency_keys.items()},
            chase_ups={k: _clone(v) for k, v in self.chase_ups.items()},
        )


class _Repository:
    def __init__(self, uow: "FakeUnitOfWork") -> None:
        self._uow = uow

    @property
    def _t(self) -> Tables:
        return self._uow.working


class FakeRecommendations(_Repository):
    def add(self, recommendation: Recommendation) -> None:
        self._t.recommendations[recommendation.id] = _with_defaults(recommendation)

    def get(self, recommendation_id: str) -> Recommendation | None:
        return self._t.recommendations.get(recommendation_id)

    def get_for_update(self, recommendation_id: str) -> Recommendation | None:
        return self.get(recommendation_id)  # one writer at a time in memory: nothing to lock

    def add_event(self, event: StatusEvent) -> None:
        self._t.status_events.append(_with_defaults(event))

    def insert_event(self, **columns: Any) -> None:
        self.add_event(StatusEvent(**columns))

    def timeline(self, recommendation_id: str, *, applied_only: bool = True) -> list[StatusEvent]:
        rows = [
            e
            for e in self._t.status_events
            if e.recommendation_id == recommendation_id and (e.applied or not applied_only)
        ]
        return sorted(rows, key=lambda e: e.at)  # stable: the order they were added in a tie

    def last_event_at(self, recommendation_id: str, status: str) -> datetime | None:
        times = [e.at for e in self.timeline(recommendation_id) if e.status == status]
        return max(times, default=None)

    def add_resource(self, resource: FhirResource) -> None:
        self._t.resources[resource.id] = _with_defaults(resource)

    def insert_resources(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.add_resource(FhirResource(**row))

    def resources_for(
        self, recommendation_id: str, *, types: Collection[str] | None = None
    ) -> Sequence[FhirResource]:
        rows = [
            r
            for r in self._t.resources.values()
            if r.recommendation_id == recommendation_id
            and (types is None or r.resource_type in types)
        ]
        return sorted(rows, key=lambda r: r.resource_type)

    def update_resource(
        self, resource: FhirResource, body: dict[str, Any], *, now: datetime
    ) -> None:
        self._t.resource_versions.append((resource.id, resource.version_id, resource.body))
        resource.body = body
        resource.version_id += 1
        resource.last_updated = max(now, resource.last_updated)

    def find_idempotency_key(self, *, client_id: str, key: str) -> IdempotencyKey | None:
        return self._t.idempotency_keys.get((client_id, key))

    def add_idempotency_key(self, record: IdempotencyKey) -> None:
        self._t.idempotency_keys[(record.client_id, record.key)] = record


class FakeDeliveries(_Repository):
    def add(self, delivery: Delivery) -> None:
        self._t.deliveries[delivery.id] = _with_defaults(delivery)

    def insert(self, **columns: Any) -> None:
        self.add(Delivery(**columns))

    def get(self, delivery_id: str) -> Delivery | None:
        return self._t.deliveries.get(delivery_id)

    def for_recommendation(self, recommendation_id: str) -> Sequence[Delivery]:
        rows = [d for d in self._t.deliveries.values() if d.recommendation_id == recommendation_id]
        return sorted(rows, key=lambda d: d.created_at)


class FakePractices(_Repository):
    def add(self, practice: Practice) -> None:
        self._t.practices[practice.ods_code] = _with_defaults(practice)

    def get(self, ods_code: str) -> Practice | None:
        return self._t.practices.get(ods_code)

    def list(self) -> list[Practice]:
        return [self._t.practices[ods] for ods in sorted(self._t.practices)]


class FakeCatalogueCodes:
    def imported(self) -> ImportedCodes:
        return ImportedCodes()  # none imported: the built-in catalogue only


class FakeReminderPlans(_Repository):
    def get(self, recommendation_id: str) -> ReminderPlan | None:
        return self._t.plans.get(recommendation_id)

    def put(self, plan: ReminderPlan) -> ReminderPlan:
        self._t.plans[plan.recommendation_id] = _with_defaults(plan)
        return plan

    def enabled(self) -> Sequence[ReminderPlan]:
        return [p for _, p in sorted(self._t.plans.items()) if p.enabled]


class FakeAppointments(_Repository):
    def add(self, appointment: Appointment) -> None:
        self._t.appointments[appointment.id] = _with_defaults(appointment)

    def for_recommendation(self, recommendation_id: str) -> Sequence[Appointment]:
        rows = [
            a for a in self._t.appointments.values() if a.recommendation_id == recommendation_id
        ]
        return sorted(rows, key=lambda a: (a.created_at, a.id))

    def current(self, recommendation_id: str) -> Appointment | None:
        rows = self.for_recommendation(recommendation_id)
        return rows[-1] if rows else None

    def booked_starting(self, after: datetime, before: datetime) -> Sequence[Appointment]:
        waiting = {
            r.id for r in self._t.recommendations.values() if r.status == "appointment-booked"
        }
        rows = [
            a
            for a in self._t.appointments.values()
            if a.recommendation_id in waiting
            and a.state == "booked"
            and after <= a.start_at < before
        ]
        return sorted(rows, key=lambda a: a.start_at)


class FakeNotifications(_Repository):
    def add_once(self, notification: Notification) -> bool:
        key = _once_key(notification)
        if any(_once_key(n) == key for n in self._t.notifications.values()):
            return False
        self._t.notifications[notification.id] = _with_defaults(notification)
        return True

    def for_recommendation(self, recommendation_id: str) -> Sequence[Notification]:
        rows = [
            n for n in self._t.notifications.values() if n.recommendation_id == recommendation_id
        ]
        return sorted(rows, key=lambda n: (n.created_at, n.member, n.id))

    def events_for(self, recommendation_id: str, *, prefix: str) -> list[str]:
        return sorted(
            {
                n.event
                for n in self.for_recommendation(recommendation_id)
                if n.event.startswith(prefix)
            }
        )


def _once_key(n: Notification) -> tuple[str, str, str, int]:
    return (n.recommendation_id, n.event, n.recipient, n.member)


class FakeOutbox(_Repository):
    def add(self, *, kind: str, ref_id: str) -> None:
        self._t.outbox.append((kind, ref_id))

    def insert(self, *, kind: str, ref_id: str) -> None:
        self.add(kind=kind, ref_id=ref_id)

    @property
    def messages(self) -> list[tuple[str, str]]:
        return list(self._t.outbox)


class FakeEngagement(_Repository):
    def webhook(self, organisation_ods: str) -> WebhookSubscription | None:
        return self._t.webhooks.get(organisation_ods)

    def set_webhook(self, subscription: WebhookSubscription) -> WebhookSubscription:
        self._t.webhooks[subscription.organisation_ods] = subscription
        return subscription


class FakeFollowUps(_Repository):
    def awaiting_collection(self, *, limit: int) -> list[AwaitingCollection]:
        ready: dict[str, datetime] = {}
        for e in self._t.status_events:
            if e.status == "ready-to-collect" and e.applied:
                ready[e.recommendation_id] = max(e.at, ready.get(e.recommendation_id, e.at))
        waiting = [
            AwaitingCollection(rid, at)
            for rid, at in ready.items()
            if self._t.recommendations[rid].status == "ready-to-collect"
        ]
        return sorted(waiting, key=lambda w: w.ready_at)[:limit]

    def add_chase_up(self, chase_up: ChaseUp) -> bool:
        taken = {(c.recommendation_id, c.number) for c in self._t.chase_ups.values()}
        if (chase_up.recommendation_id, chase_up.number) in taken:
            return False
        self._t.chase_ups[chase_up.id] = _with_defaults(chase_up)
        return True

    def chase_ups_for(self, recommendation_id: str) -> Sequence[ChaseUp]:
        rows = [c for c in self._t.chase_ups.values() if c.recommendation_id == recommendation_id]
        return sorted(rows, key=lambda c: c.number)

    def successor_of(self, recommendation_id: str) -> Recommendation | None:
        found = (
            r for r in self._t.recommendations.values() if r.predecessor_id == recommendation_id
        )
        return next(found, None)


class FakeReplays(_Repository):
    def add(self, batch: ReplayBatch) -> None:
        self._t.replays[batch.id] = _with_defaults(batch)

    def get(self, batch_id: str) -> ReplayBatch | None:
        return self._t.replays.get(batch_id)

    def get_for_update(self, batch_id: str) -> ReplayBatch | None:
        return self.get(batch_id)


class FakeUnitOfWork:
    """One in-memory store and its open transaction. `committed` says whether `commit()` has
    been called since the last time a test cleared it."""

    def __init__(self) -> None:
        self._stored = Tables()
        self.working = Tables()
        self.committed = False
        self.recommendations = FakeRecommendations(self)
        self.reminder_plans = FakeReminderPlans(self)
        self.appointments = FakeAppointments(self)
        self.notifications = FakeNotifications(self)
        self.outbox = FakeOutbox(self)
        self.engagement = FakeEngagement(self)
        self.follow_ups = FakeFollowUps(self)
        self.replays = FakeReplays(self)
        self.practices = FakePractices(self)
        self.deliveries = FakeDeliveries(self)
        self.catalogue_codes = FakeCatalogueCodes()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def flush(self) -> None:
        """Nothing to send: rows are in `working` as soon as they are added."""

    def commit(self) -> None:
        self._stored = self.working.copy()
        self.committed = True

    def rollback(self) -> None:
        self.working = self._stored.copy()
