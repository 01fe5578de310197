"""The audit trail: append and search, nothing else (the table refuses UPDATE and DELETE)."""

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.store.models import AuditRecord
from gateway.store.repositories.fhir_search import DateBound, date_condition


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_all(self, records: Iterable[AuditRecord]) -> None:
        self._session.add_all(list(records))

    def get(self, record_id: int) -> AuditRecord | None:
        return self._session.get(AuditRecord, record_id)

    def search(
        self,
        *,
        recommendation_id: str | None = None,
        client_id: str | None = None,
        recorded: Sequence[DateBound] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[Sequence[AuditRecord], int]:
        stmt = select(AuditRecord)
        if recommendation_id is not None:
            stmt = stmt.where(AuditRecord.recommendation_id == recommendation_id)
        if client_id is not None:
            stmt = stmt.where(AuditRecord.client_id == client_id)
        for bound in recorded:
            stmt = stmt.where(date_condition(AuditRecord.recorded_at, bound))
        total = self._session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = self._session.scalars(
            stmt.order_by(AuditRecord.recorded_at.desc(), AuditRecord.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return rows, total
