"""SQLAlchemy models: the system of record. Portable across SQLite and PostgreSQL."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.store.leased_jobs import LeasedJob


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


def table_of(model: type[Base]) -> Table:
    """The model's Table, for Core statements that skip the ORM's bookkeeping."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Practice(Base):
    __tablename__ = "practices"

    ods_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    adapter: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str | None] = mapped_column(String(500))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rate_limit_per_minute: Mapped[int | None]
    chase_after_days: Mapped[int] = mapped_column(default=3)
    # Long enough for a combined cursor (Tasks and MedicationRequest orders).
    poll_cursor: Mapped[str | None] = mapped_column(String(255))
    poll_lease_until: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    # The practice's MESH mailbox, indexed: replies in Liaison's inbox are matched by sender.
    mesh_mailbox: Mapped[str | None] = mapped_column(String(20), index=True)
    # Circuit breaker (gateway.domain.isolation): closed | open | half-open.
    breaker_state: Mapped[str] = mapped_column(String(16), default="closed")
    breaker_failures: Mapped[int] = mapped_column(default=0)
    breaker_opened_at: Mapped[datetime | None]
    breaker_probe_until: Mapped[datetime | None]
    breaker_last_error: Mapped[str | None] = mapped_column(Text)
    # Token bucket for rate_limit_per_minute, shared by every worker through this row.
    rate_tokens: Mapped[float | None] = mapped_column(Float)
    rate_checked_at: Mapped[datetime | None]
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
    # The practice it is routed to: None until the worker has asked PDS (the practitioner
    # may not know it), then the registered practice (gateway.domain.registration).
    practice_ods: Mapped[str | None] = mapped_column(ForeignKey("practices.ods_code"))
    product: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(32), index=True)
    # The accepted request body. Holds personal data: never logged, read only to build
    # resources and address notifications.
    payload: Mapped[dict[str, Any]]
    # Re-engagement: the recommendation this one re-opens. Unique: one successor each.
    predecessor_id: Mapped[str | None] = mapped_column(
        ForeignKey("recommendations.id"), unique=True, index=True
    )
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


class FhirResourceVersion(Base):
    """A version of a stored FHIR resource that a later one replaced (FHIR history and
    vread); the current version stays in `fhir_resources`. Never pruned."""

    __tablename__ = "fhir_resource_versions"

    resource_id: Mapped[str] = mapped_column(ForeignKey("fhir_resources.id"), primary_key=True)
    version_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    resource_type: Mapped[str] = mapped_column(String(40))
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    body: Mapped[dict[str, Any]]
    last_updated: Mapped[datetime]


class Delivery(LeasedJob, Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_next", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    # None until routed by the registered practice (workers.resolving).
    practice_ods: Mapped[str | None] = mapped_column(ForeignKey("practices.ods_code"), index=True)
    # The identifier the GP system sees (conditional create, MESH local id). A replay keeps
    # its original's, so a request that did arrive before the failure is not created twice.
    external_id: Mapped[str | None] = mapped_column(String(36), index=True)
    replay_of: Mapped[str | None] = mapped_column(ForeignKey("deliveries.id"))
    replay_batch_id: Mapped[str | None] = mapped_column(String(36))
    # state, attempts, lease and retry time: LeasedJob. Its states and moves:
    # gateway.domain.delivery_states (pending | in-flight | retrying | dead | delivered |
    # replayed | stopped).
    delivered_at: Mapped[datetime | None]
    remote_reference: Mapped[str | None] = mapped_column(String(200))
    # What the far side says of a delivered message (MESH tracking): accepted |
    # acknowledged | expired | failed; and when Liaison last asked.
    remote_status: Mapped[str | None] = mapped_column(String(32))
    remote_checked_at: Mapped[datetime | None]
    # request | withdrawal (adapters.gp_system.DeliveryPurpose). A withdrawal tells the
    # practice that the request delivery `withdraws_id` no longer stands, and why.
    purpose: Mapped[str] = mapped_column(String(16), default="request")
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    withdraws_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # The ITK MessageHeader id of the GP Connect Send Document message this delivery sends
    # over MESH: the practice's ITK3 responses name it (MessageHeader.response.identifier).
    message_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RegistrationCheck(Base):
    """One look at PDS (and ODS) before a delivery or a chase-up: where the recommendation
    was routed and why, or why it stopped or waits. Holds ODS codes and reasons, never an
    NHS number, a name or a birth date."""

    __tablename__ = "registration_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    delivery_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # routed | corrected | stopped | waiting
    outcome: Mapped[str] = mapped_column(String(16))
    given_ods: Mapped[str | None] = mapped_column(String(10))
    practice_ods: Mapped[str | None] = mapped_column(String(10))
    detail: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


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
        UniqueConstraint(
            "recommendation_id", "event", "recipient", "member", name="uq_notification_once"
        ),
        Index("ix_notifications_status_not_before", "status", "not_before"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(20))
    # Care team only: which member (index in the payload's `care_team`); 0 for everyone else.
    member: Mapped[int] = mapped_column(default=0, server_default="0")
    channel: Mapped[str] = mapped_column(String(20))
    # pending | sending | sent | failed | suppressed | held (waiting for a daily digest) |
    # superseded (the recommendation moved on before it went; `error` says why)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempt_count: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    # Not sent before this instant: quiet hours, a digest's time, or a retry's backoff.
    not_before: Mapped[datetime | None]
    # The digest email that carried it, when it went in one.
    batch_id: Mapped[str | None] = mapped_column(String(36))
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
    # The request (or task) that wrote the job: the relay publishes it with this id, so the
    # worker's log lines can be joined to the API request that caused them.
    correlation_id: Mapped[str | None] = mapped_column(String(64))


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("client_id", "key", name="uq_idempotency_client_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReplayBatch(Base):
    """A bulk replay asked for by an integration engineer: runs in batches, can be cancelled."""

    __tablename__ = "replay_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    criteria: Mapped[dict[str, Any]]
    # running | cancelled | finished
    state: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(default=0)
    replayed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChaseUp(LeasedJob, Base):
    """A reminder to a practice that has not acted: one row per chase-up, sent through the
    practice's own adapter as a new CommunicationRequest referencing the original."""

    __tablename__ = "chase_ups"
    __table_args__ = (
        UniqueConstraint("recommendation_id", "number", name="uq_chase_up_number"),
        Index("ix_chase_ups_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    practice_ods: Mapped[str] = mapped_column(ForeignKey("practices.ods_code"))
    number: Mapped[int]
    # state, attempts, lease and retry time: LeasedJob. Its states and moves:
    # gateway.domain.chase_up_states (pending | sending | sent | failed | stopped).
    sent_at: Mapped[datetime | None]
    remote_reference: Mapped[str | None] = mapped_column(String(200))
    # The CommunicationRequest as sent (kept here, not in fhir_resources, so the original
    # request's resources stay one per type).
    resource: Mapped[dict[str, Any] | None]
    # Over MESH: the ITK message id of its Send Document letter, and what the practice
    # system's ITK3 responses said of it (received | filed | refused).
    message_id: Mapped[str | None] = mapped_column(String(36), index=True)
    remote_status: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PractitionerPreference(Base):
    """How a practitioner wants to hear from Liaison: each message at once, or a daily digest."""

    __tablename__ = "practitioner_preferences"

    organisation_ods: Mapped[str] = mapped_column(String(10), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # immediate | daily-digest
    delivery: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookSubscription(Base):
    """Where a case-management app wants signed event callbacks; one per organisation."""

    __tablename__ = "webhook_subscriptions"

    organisation_ods: Mapped[str] = mapped_column(String(10), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    # The HMAC key shared with the app. Never returned by the API or logged.
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiClient(Base):
    """A system allowed to call the API: it proves itself with a JWT signed by a key in its
    registered JWKS (private_key_jwt). Revoked clients keep their row for the audit trail."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # case-management | gp-practice | ops
    kind: Mapped[str] = mapped_column(String(20))
    # The tenant: the mental-health organisation, or the GP practice for a gp-practice client.
    organisation_ods: Mapped[str] = mapped_column(String(10))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
    jwks: Mapped[dict[str, Any]]  # public keys only
    # active | revoked
    status: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UsedAssertionJti(Base):
    """Client-assertion ids already exchanged: a replayed assertion is refused. Rows may be
    pruned once `expires_at` has passed, because the assertion itself is then expired."""

    __tablename__ = "used_assertion_jtis"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditRecord(Base):
    """Who touched which recommendation, how, when, and with what outcome. Append-only: the
    migration installs triggers that refuse UPDATE and DELETE. Holds ids, never patient data."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_recommendation_recorded", "recommendation_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(100))
    organisation_ods: Mapped[str | None] = mapped_column(String(10))
    actor_kind: Mapped[str | None] = mapped_column(String(20))
    # A person acting through a client (a practice inbox user), when there is one.
    user: Mapped[str | None] = mapped_column(String(100))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    # FHIR AuditEvent.action: C R U D E
    action: Mapped[str] = mapped_column(String(1))
    # read | search | create | update | delete | operation
    interaction: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(200))
    recommendation_id: Mapped[str | None] = mapped_column(String(36))
    status_code: Mapped[int]
    # FHIR AuditEvent.outcome: 0 success, 4 minor failure (refused), 8 serious failure
    outcome: Mapped[str] = mapped_column(String(2))


class InboxUser(Base):
    """Practice staff who sign in to the practice inbox. Separate from API clients: a person
    with a password, for one practice only."""

    __tablename__ = "inbox_users"
    __table_args__ = (UniqueConstraint("practice_ods", "username", name="uq_inbox_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    practice_ods: Mapped[str] = mapped_column(ForeignKey("practices.ods_code"), index=True)
    username: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, never the password
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_sign_ins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogueCode(Base):
    """A dm+d code a deployment imported from its own dm+d release (`liaison catalogue
    import`): the only source of dm+d codes Liaison sends or matches."""

    __tablename__ = "catalogue_codes"
    __table_args__ = (UniqueConstraint("kind", "key", "code", name="uq_catalogue_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # product | safety-rule
    key: Mapped[str] = mapped_column(String(100))  # catalogue product key or safety rule key
    system: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(20), index=True)
    display: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(200))  # the release it came from
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
