"""Alerts for integration engineers (gateway.services.alerts)."""

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class Alert(Base):
    """Something integration engineers must look at (gateway.services.alerts). At most one is
    open per rule and subject (the partial unique index below), so a condition that lasts is
    raised and sent once, however often it is evaluated, until it is resolved."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # dead-letters | circuit-open | outbox-lag
    rule: Mapped[str] = mapped_column(String(32))
    # What it is about: a practice's ODS code, or "outbox". Never a patient.
    subject: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # None while the condition has not yet lasted as long as its rule asks.
    raised_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
    notified_at: Mapped[datetime | None]
    resolution_notified_at: Mapped[datetime | None]
    # A sender holds the alert's notice until then; one that died lets another send it.
    notice_claimed_until: Mapped[datetime | None]
    notice_error: Mapped[str | None] = mapped_column(Text)


Index(
    "uq_alerts_open",
    Alert.rule,
    Alert.subject,
    unique=True,
    sqlite_where=Alert.resolved_at.is_(None),
    postgresql_where=Alert.resolved_at.is_(None),
)
