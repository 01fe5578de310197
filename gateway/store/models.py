"""SQLAlchemy models: the system of record. Portable across SQLite and PostgreSQL."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out; SQLite would otherwise drop the zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Practice(Base):
    __tablename__ = "practices"

    ods_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    adapter: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str | None] = mapped_column(String(500))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rate_limit_per_minute: Mapped[int | None]
    chase_after_days: Mapped[int] = mapped_column(default=3)
    poll_cursor: Mapped[str | None] = mapped_column(String(64))
    poll_lease_until: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Recommendation(Base):
    __tablename__ = "recommendations"
    __table_args__ = (
        Index("ix_recommendations_org_created", "organisation_ods", "created_at"),
        Index("ix_recommendations_practice_status", "practice_ods", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_ods: Mapped[str] = mapped_column(String(10))
    client_id: Mapped[str] = mapped_column(String(100))
    practitioner_id: Mapped[str] = mapped_column(String(100), index=True)
    practice_ods: Mapped[str] = mapped_column(ForeignKey("practices.ods_code"))
    product: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(32), index=True)
    # The accepted request body. Holds personal data: never logged, read only to build
    # resources and address notifications.
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FhirResource(Base):
    __tablename__ = "fhir_resources"
    __table_args__ = (Index("ix_fhir_resources_type_updated", "resource_type", "last_updated"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    version_id: Mapped[int] = mapped_column(default=1)
    body: Mapped[dict[str, Any]]
    last_updated: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_next", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    practice_ods: Mapped[str] = mapped_column(ForeignKey("practices.ods_code"), index=True)
    # pending | in-flight | retrying | delivered | dead
    state: Mapped[str] = mapped_column(String(16))
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    first_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    remote_reference: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    number: Mapped[int]
    adapter: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    # success | transient | rate-limited | permanent
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)


class StatusEvent(Base):
    """The timeline: every status change applied, and every refused one."""

    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    applied: Mapped[bool] = mapped_column(default=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("recommendation_id", "event", "recipient", name="uq_notification_once"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    # pending | sending | sent | failed | suppressed
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempt_count: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    provider_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """Jobs written in the same transaction as the data they refer to; the relay publishes."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # deliver | notify
    ref_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    publish_count: Mapped[int] = mapped_column(default=0)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("client_id", "key", name="uq_idempotency_client_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
