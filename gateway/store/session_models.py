"""Practice inbox sessions, kept server-side like the console's: the cookie holds a random
id, the database its SHA-256, so signing out (or disabling the account) ends the session
at once and a database reader cannot sign in."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, utcnow


class InboxSession(Base):
    __tablename__ = "inbox_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("inbox_users.id"), index=True)
    practice_ods: Mapped[str] = mapped_column(String(10))
    csrf_token: Mapped[str] = mapped_column(String(64))
    # One message shown once on the next page ("Done: the request is now marked ...").
    flash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
