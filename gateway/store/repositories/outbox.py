"""The transactional outbox: jobs committed with their data, published by the relay."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from gateway.correlation import current_correlation_id
from gateway.store.models import OutboxMessage, table_of


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, *, kind: str, ref_id: str) -> None:
        self._session.add(
            OutboxMessage(kind=kind, ref_id=ref_id, correlation_id=current_correlation_id())
        )

    def insert(self, *, kind: str, ref_id: str) -> None:
        """`add`, inserted at once rather than at the next flush."""
        row = {"kind": kind, "ref_id": ref_id, "correlation_id": current_correlation_id()}
        self._session.execute(insert(table_of(OutboxMessage)), [row])

    def unpublished(self, *, limit: int) -> Sequence[OutboxMessage]:
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        # SKIP LOCKED lets several relays share the table on PostgreSQL; SQLite ignores it.
        return self._session.scalars(stmt.with_for_update(skip_locked=True)).all()

    def mark_published(self, ids: Sequence[int], *, at: datetime) -> None:
        if not ids:
            return
        self._session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(published_at=at, publish_count=OutboxMessage.publish_count + 1)
        )

    def oldest_unpublished_at(self) -> datetime | None:
        stmt = (
            select(OutboxMessage.created_at)
            .where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(1)
        )
        return self._session.scalars(stmt).first()
