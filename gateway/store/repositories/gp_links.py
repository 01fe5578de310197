"""Queries behind per-practice isolation and MESH follow-up: locking a practice's row,
counting its deliveries in flight, finding MESH messages to track, matching replies."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from gateway.domain.delivery_states import DeliveryState
from gateway.store.models import ChaseUp, Delivery, Practice

# Remote statuses after which nothing more is learnt about a MESH message (tracking, ITK3
# responses, the response timeout): gateway.services.itk_responses.SETTLED.
TRACKING_SETTLED = ("filed", "refused", "expired", "failed", "no-response")


class GPLinkRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def lock_practice(self, ods_code: str) -> Practice | None:
        """The practice's row, held until commit so that breaker, rate and in-flight decisions
        by concurrent workers see each other (a row lock on PostgreSQL; SQLite already runs
        one writer at a time, but only from its first write: hence a write first there)."""
        if self._session.get_bind().dialect.name == "sqlite":
            self._session.execute(
                update(Practice)
                .where(Practice.ods_code == ods_code)
                .values(breaker_state=Practice.breaker_state)
            )
        stmt = select(Practice).where(Practice.ods_code == ods_code).with_for_update()
        return self._session.scalars(stmt.execution_options(populate_existing=True)).first()

    def in_flight_count(self, ods_code: str, *, now: datetime) -> int:
        stmt = select(func.count()).where(
            Delivery.practice_ods == ods_code,
            Delivery.state == DeliveryState.IN_FLIGHT,
            Delivery.lease_until > now,
        )
        return int(self._session.scalar(stmt) or 0)

    def in_flight(self, *, now: datetime, practice_ods: str | None = None) -> dict[str, int]:
        """Deliveries in flight under a live lease, per practice (only `practice_ods`'s, when
        given): `in_flight_count` for every practice in one statement."""
        stmt = select(Delivery.practice_ods, func.count()).where(
            Delivery.state == DeliveryState.IN_FLIGHT,
            Delivery.lease_until > now,
            Delivery.practice_ods.is_not(None),
        )
        if practice_ods is not None:
            stmt = stmt.where(Delivery.practice_ods == practice_ods)
        stmt = stmt.group_by(Delivery.practice_ods)
        return {str(ods): int(n) for ods, n in self._session.execute(stmt).tuples()}

    def practice_by_mesh_mailbox(self, mailbox: str) -> Practice | None:
        stmt = select(Practice).where(func.upper(Practice.mesh_mailbox) == mailbox.upper())
        return self._session.scalars(stmt).first()

    def deliveries_to_track(
        self, ods_code: str, *, checked_before: datetime, limit: int
    ) -> Sequence[Delivery]:
        """Delivered MESH messages whose fate is still open and not looked at lately."""
        stmt = (
            select(Delivery)
            .where(
                Delivery.practice_ods == ods_code,
                Delivery.state == DeliveryState.DELIVERED,
                Delivery.remote_reference.is_not(None),
                or_(
                    Delivery.remote_status.is_(None),
                    Delivery.remote_status.not_in(TRACKING_SETTLED),
                ),
                or_(
                    Delivery.remote_checked_at.is_(None),
                    Delivery.remote_checked_at <= checked_before,
                ),
            )
            .order_by(Delivery.remote_checked_at.is_not(None), Delivery.remote_checked_at)
            .limit(limit)
        )
        return self._session.scalars(stmt).all()

    def practices_with_open_messages(self) -> set[str]:
        """Practices with a MESH message whose fate is still open (a withdrawal among them,
        whose recommendation no longer awaits the practice)."""
        stmt = (
            select(Delivery.practice_ods)
            .distinct()
            .where(
                Delivery.state == DeliveryState.DELIVERED,
                Delivery.remote_reference.is_not(None),
                Delivery.remote_status.is_not(None),
                Delivery.remote_status.not_in(TRACKING_SETTLED),
            )
        )
        return {ods for ods in self._session.scalars(stmt) if ods is not None}

    def delivery_by_local_id(self, local_id: str) -> Delivery | None:
        """The newest delivery a GP system knows by `local_id` (the id it was sent with)."""
        stmt = (
            select(Delivery)
            .where(or_(Delivery.external_id == local_id, Delivery.id == local_id))
            .order_by(Delivery.created_at.desc())
        )
        return self._session.scalars(stmt).first()

    def delivery_by_remote_reference(self, reference: str) -> Delivery | None:
        stmt = select(Delivery).where(Delivery.remote_reference == reference)
        return self._session.scalars(stmt).first()

    def delivery_by_message_id(self, message_id: str) -> Delivery | None:
        """The delivery that sent the ITK message `message_id` (GP Connect Send Document)."""
        stmt = select(Delivery).where(Delivery.message_id == message_id)
        return self._session.scalars(stmt).first()

    def chase_up_by_message_id(self, message_id: str) -> ChaseUp | None:
        """The chase-up whose Send Document letter was the ITK message `message_id`."""
        stmt = select(ChaseUp).where(ChaseUp.message_id == message_id)
        return self._session.scalars(stmt).first()
