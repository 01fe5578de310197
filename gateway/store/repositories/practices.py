"""The practice directory: which adapter serves each ODS code, and its poll cursor."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gateway.store.models import Practice


class PracticeRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        # The session's identity map holds rows weakly: a practice looked up only to see
        # that it exists would be gone by the next lookup in the same unit of work, and
        # asked for again. Held here, the next `get` is answered from the map.
        self._held: dict[str, Practice] = {}

    def get(self, ods_code: str) -> Practice | None:
        practice = self._session.get(Practice, ods_code)
        if practice is not None:
            self._held[ods_code] = practice
        return practice

    def add(self, practice: Practice) -> None:
        self._session.add(practice)
        self._held[practice.ods_code] = practice

    def list(self) -> Sequence[Practice]:
        return self._session.scalars(select(Practice).order_by(Practice.ods_code)).all()

    def with_breaker_not_closed(self) -> Sequence[Practice]:
        stmt = select(Practice).where(Practice.breaker_state != "closed")
        return self._session.scalars(stmt.order_by(Practice.ods_code)).all()

    def upsert(self, practice: Practice) -> Practice:
        existing = self.get(practice.ods_code)
        if existing is None:
            self._session.add(practice)
            return practice
        existing.adapter = practice.adapter
        existing.base_url = practice.base_url
        existing.config = practice.config
        existing.rate_limit_per_minute = practice.rate_limit_per_minute
        existing.chase_after_days = practice.chase_after_days
        return existing

    def claim_poll(self, ods_code: str, *, now: datetime, lease: timedelta) -> bool:
        """One poller per practice at a time; an expired lease frees a crashed poller's claim."""
        stmt = (
            update(Practice)
            .where(
                Practice.ods_code == ods_code,
                or_(Practice.poll_lease_until.is_(None), Practice.poll_lease_until <= now),
            )
            .values(poll_lease_until=now + lease)
        )
        result = self._session.execute(stmt)
        return bool(getattr(result, "rowcount", 0) == 1)

    def finish_poll(self, ods_code: str, *, cursor: str | None, at: datetime) -> None:
        self._session.execute(
            update(Practice)
            .where(Practice.ods_code == ods_code)
            .values(poll_cursor=cursor, last_polled_at=at, poll_lease_until=None)
        )
