"""Integration engineers' console sessions, found by the SHA-256 of the cookie's value."""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from gateway.store.session_models import ConsoleSession


class ConsoleSessionRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, console_session: ConsoleSession) -> None:
        self._session.add(console_session)

    def get(self, id_hash: str) -> ConsoleSession | None:
        return self._session.get(ConsoleSession, id_hash)

    def remove(self, id_hash: str) -> None:
        self._session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == id_hash))

    def remove_expired(self, *, now: datetime) -> int:
        result = self._session.execute(
            delete(ConsoleSession).where(ConsoleSession.expires_at <= now)
        )
        return int(getattr(result, "rowcount", 0))
