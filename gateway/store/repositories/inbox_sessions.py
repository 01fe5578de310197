"""Practice inbox sessions, found by the SHA-256 of the cookie's value."""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from gateway.store.session_models import InboxSession


class InboxSessionRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, inbox_session: InboxSession) -> None:
        self._session.add(inbox_session)

    def get(self, id_hash: str) -> InboxSession | None:
        return self._session.get(InboxSession, id_hash)

    def remove(self, id_hash: str) -> None:
        self._session.execute(delete(InboxSession).where(InboxSession.id_hash == id_hash))

    def remove_for_user(self, user_id: int) -> None:
        """Every session of an account (disabled, or its password changed)."""
        self._session.execute(delete(InboxSession).where(InboxSession.user_id == user_id))

    def remove_expired(self, *, now: datetime) -> int:
        result = self._session.execute(delete(InboxSession).where(InboxSession.expires_at <= now))
        return int(getattr(result, "rowcount", 0))
