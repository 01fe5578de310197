"""Queries over deliveries and their attempts. Claims are conditional updates so that two
workers handed the same delivery never both send it."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from gateway.domain.delivery_states import CLAIMABLE, MACHINE, DeliveryMove, DeliveryState
from gateway.store import leased_jobs
from gateway.store.models import Delivery, DeliveryAttempt, table_of

# Shown for deliveries whose practice is not known yet (waiting for PDS: workers.resolving).
UNROUTED = "unrouted"
Ts = TypeVarTuple("Ts")
_LEASE = leased_jobs.LeaseColumns.of(Delivery)
_DEFERRABLE = tuple(s for s in CLAIMABLE if s in MACHINE.sources_of(DeliveryMove.DEFER))


class DeliveryRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, delivery: Delivery) -> None:
        self._session.add(delivery)

    def insert(self, **columns: Any) -> None:
        """A new delivery (Delivery columns) inserted at once, past the unit of work's
        bookkeeping: for a writer that does not touch it again in its transaction (intake)."""
        self._session.execute(insert(table_of(Delivery)), [columns])

    def get(self, delivery_id: str) -> Delivery | None:
        return self._session.get(Delivery, delivery_id)

    def get_many(self, delivery_ids: Sequence[str]) -> dict[str, Delivery]:
        if not delivery_ids:
            return {}
        stmt = select(Delivery).where(Delivery.id.in_(delivery_ids))
        return {delivery.id: delivery for delivery in self._session.scalars(stmt)}

    def for_recommendation(self, recommendation_id: str) -> Sequence[Delivery]:
        stmt = (
            select(Delivery)
            .where(Delivery.recommendation_id == recommendation_id)
            .order_by(Delivery.created_at)
        )
        return self._session.scalars(stmt).all()

    def claim(
        self,
        delivery_id: str,
        *,
        now: datetime,
        lease: timedelta,
        in_flight_below: int | None = None,
    ) -> bool:
        """Take the delivery for one attempt if it is due; False if someone else has it,
        it is finished, or it is not due yet. `in_flight_below`: and only if its practice
        has fewer deliveries in flight, counted in the same statement (the caller holds the
        practice's lock, so no other claim for it runs in between)."""
        room = None
        if in_flight_below is not None:
            other = aliased(Delivery)
            in_flight = (
                select(func.count())
                .select_from(other)
                .where(
                    other.practice_ods == Delivery.practice_ods,
                    other.state == DeliveryState.IN_FLIGHT,
                    other.lease_until > now,
                )
                .scalar_subquery()
            )
            room = in_flight < in_flight_below
        return leased_jobs.claim(
            self._session,
            _LEASE,
            delivery_id,
            now=now,
            lease=lease,
            due_states=CLAIMABLE,
            leased_state=MACHINE.target_of(DeliveryMove.CLAIM).value,
            only_if=room,
        )

    def defer_if_waiting(self, delivery_id: str, *, now: datetime, until: datetime) -> bool:
        """Make a delivery that is waiting and due wait until `until`, without an attempt
        or any retry budget spent (a gate's refusal); False if it is not waiting any more."""
        stmt = (
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                leased_jobs.claimable(_LEASE, now=now, due_states=_DEFERRABLE),
            )
            .values(state=MACHINE.target_of(DeliveryMove.DEFER).value, next_attempt_at=until)
        )
        result = self._session.execute(stmt)
        return bool(getattr(result, "rowcount", 0) == 1)

    def add_attempt(self, attempt: DeliveryAttempt) -> None:
        self._session.add(attempt)

    def attempts(self, delivery_id: str) -> Sequence[DeliveryAttempt]:
        stmt = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.number, DeliveryAttempt.id)
        )
        return self._session.scalars(stmt).all()

    def due(
        self, *, now: datetime, limit: int, excluding_practices: Collection[str] = ()
    ) -> list[str]:
        """Deliveries whose retry time has come, or whose lease ran out mid-attempt."""
        stmt = select(Delivery.id).where(_due(now)).order_by(Delivery.next_attempt_at).limit(limit)
        if excluding_practices:
            stmt = stmt.where(Delivery.practice_ods.not_in(list(excluding_practices)))
        return list(self._session.scalars(stmt))

    def first_due(self, practice_ods: str, *, now: datetime) -> str | None:
        stmt = (
            select(Delivery.id)
            .where(_due(now), Delivery.practice_ods == practice_ods)
            .order_by(Delivery.next_attempt_at)
            .limit(1)
        )
        return self._session.scalars(stmt).first()

    def release_expired_leases(self, *, now: datetime) -> int:
        """A worker died mid-attempt: make its delivery claimable again."""
        stmt = (
            update(Delivery)
            .where(
                Delivery.state.in_(MACHINE.sources_of(DeliveryMove.RELEASE)),
                Delivery.lease_until <= now,
            )
            .values(
                state=MACHINE.target_of(DeliveryMove.RELEASE).value,
                next_attempt_at=now,
                lease_until=None,
            )
        )
        result = self._session.execute(stmt)
        return int(getattr(result, "rowcount", 0))

    def pending_older_than(self, *, before: datetime, limit: int) -> list[str]:
        stmt = (
            select(Delivery.id)
            .where(Delivery.state == DeliveryState.PENDING, Delivery.created_at <= before)
            .order_by(Delivery.created_at)
            .limit(limit)
        )
        return list(self._session.scalars(stmt))

    def count_by_state(self) -> dict[str, int]:
        stmt = select(Delivery.state, func.count()).group_by(Delivery.state)
        return {state: int(count) for state, count in self._session.execute(stmt).tuples()}


@dataclass(frozen=True)
class DeliveryCriteria:
    """How integration engineers find deliveries; every field narrows the search."""

    state: str | None = None
    practice_ods: str | None = None
    recommendation_id: str | None = None
    error_contains: str | None = None
    created_before: datetime | None = None
    purpose: str | None = None  # request | withdrawal


def _filtered(stmt: Select[*Ts], criteria: DeliveryCriteria) -> Select[*Ts]:
    if criteria.state:
        stmt = stmt.where(Delivery.state == criteria.state)
    if criteria.practice_ods:
        stmt = stmt.where(Delivery.practice_ods == criteria.practice_ods)
    if criteria.recommendation_id:
        stmt = stmt.where(Delivery.recommendation_id == criteria.recommendation_id)
    if criteria.error_contains:
        stmt = stmt.where(Delivery.last_error.ilike(f"%{criteria.error_contains}%"))
    if criteria.created_before:
        stmt = stmt.where(Delivery.created_at <= criteria.created_before)
    if criteria.purpose:
        stmt = stmt.where(Delivery.purpose == criteria.purpose)
    return stmt


class DeliverySearch:
    """Read-side queries for the ops API, CLI and console."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def find(
        self, criteria: DeliveryCriteria, *, limit: int, offset: int = 0
    ) -> tuple[Sequence[Delivery], int]:
        stmt = _filtered(select(Delivery), criteria)
        total = self._session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = self._session.scalars(
            stmt.order_by(Delivery.created_at, Delivery.id).limit(limit).offset(offset)
        ).all()
        return rows, int(total)

    def per_practice(self, criteria: DeliveryCriteria) -> dict[str, int]:
        stmt = _filtered(select(Delivery.practice_ods, func.count()), criteria).group_by(
            Delivery.practice_ods
        )
        return {ods or UNROUTED: int(n) for ods, n in self._session.execute(stmt).tuples()}

    def counts(self) -> list[tuple[str, str, int, datetime | None]]:
        """(practice, state, count, oldest created_at) for every practice and state."""
        stmt = select(
            Delivery.practice_ods, Delivery.state, func.count(), func.min(Delivery.created_at)
        ).group_by(Delivery.practice_ods, Delivery.state)
        rows = self._session.execute(stmt).tuples()
        return [(p or UNROUTED, s, int(n), oldest) for p, s, n, oldest in rows]

    def replays_of(self, delivery_id: str) -> Sequence[Delivery]:
        stmt = (
            select(Delivery).where(Delivery.replay_of == delivery_id).order_by(Delivery.created_at)
        )
        return self._session.scalars(stmt).all()


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Delivery.state == DeliveryState.RETRYING, Delivery.next_attempt_at <= now),
        and_(Delivery.state == DeliveryState.IN_FLIGHT, Delivery.lease_until <= now),
    )
