"""Web sessions, kept server-side: the console's and the practice inbox's. The cookie holds
a random id and the database its SHA-256, so signing out (or revoking the client, or
disabling the account) ends the session at once and a database reader cannot sign in."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, utcnow


class WebSession:
    """The columns every web session table has, which gateway.api.web.sessions relies on."""

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class InboxSession(WebSession, Base):
    __tablename__ = "inbox_sessions"

    user_id: Mapped[int] = mapped_column(ForeignKey("inbox_users.id"), index=True)
    practice_ods: Mapped[str] = mapped_column(String(10))
    # One message shown once on the next page ("Done: the request is now marked ...").
    flash: Mapped[str | None] = mapped_column(Text)


class ConsoleSession(WebSession, Base):
    """An integration engineer signed in to the console with an ops access token. The cookie
    holds a random id; only its SHA-256 is stored, so a database reader cannot sign in."""

    __tablename__ = "console_sessions"

    client_id: Mapped[str] = mapped_column(String(100))
    organisation_ods: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, from the token
