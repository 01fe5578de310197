"""How each practice's GP system is doing, for the console, metrics and alert rules."""

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.domain.delivery_states import DeliveryState
from gateway.store.models import Delivery, Practice


def _aware(value: datetime) -> datetime:
    # An aggregate may come back naive on SQLite; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class PracticeHealth:
    def __init__(self, session: Session) -> None:
        self._session = session

    def last_success(self) -> dict[str, datetime]:
        """When each practice last took a delivery."""
        stmt = (
            select(Delivery.practice_ods, func.max(Delivery.delivered_at))
            .where(Delivery.delivered_at.is_not(None))
            .group_by(Delivery.practice_ods)
        )
        return {ods: _aware(at) for ods, at in self._session.execute(stmt).tuples() if at and ods}

    def dead_letters_since(self, since: datetime) -> dict[str, int]:
        """Deliveries dead-lettered since `since` and not replayed yet, per practice. A dead
        delivery is not changed again until it is replayed, so its update time is when its
        retries ran out."""
        stmt = (
            select(Delivery.practice_ods, func.count())
            .where(Delivery.state == DeliveryState.DEAD, Delivery.updated_at >= since)
            .group_by(Delivery.practice_ods)
        )
        return {ods: int(n) for ods, n in self._session.execute(stmt).tuples() if ods}

    def open_circuits(self) -> dict[str, str]:
        """Practices whose circuit breaker is not closed: ODS code -> open | half-open."""
        stmt = select(Practice.ods_code, Practice.breaker_state).where(
            Practice.breaker_state != "closed"
        )
        return {ods: state for ods, state in self._session.execute(stmt).tuples()}
