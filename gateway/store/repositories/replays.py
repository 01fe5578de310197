"""Bulk replay batches."""

from sqlalchemy.orm import Session

from gateway.store.models import ReplayBatch


class ReplayRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, batch: ReplayBatch) -> None:
        self._session.add(batch)

    def get(self, batch_id: str) -> ReplayBatch | None:
        return self._session.get(ReplayBatch, batch_id)

    def get_for_update(self, batch_id: str) -> ReplayBatch | None:
        return self._session.get(ReplayBatch, batch_id, with_for_update=True)
