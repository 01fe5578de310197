"""Queries over notifications: one row per (recommendation, event, recipient)."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gateway.domain.notification_states import MACHINE, NotificationMove
from gateway.store import leased_jobs
from gateway.store.insert_once import insert_once
from gateway.store.models import Notification, Recommendation

# The same claim as every leased job's, under the notification table's own column names.
_LEASE = leased_jobs.LeaseColumns(
    model=Notification,
    id=Notification.id,
    state=Notification.status,
    due_at=Notification.not_before,
    lease_until=Notification.lease_until,
    attempt_count=Notification.attempt_count,
)
# Due now (its quiet hours or backoff over), or its sender died mid-send (lease lapsed).
_LEASED: Final = MACHINE.target_of(NotificationMove.CLAIM)
_DUE: Final = tuple(s for s in MACHINE.sources_of(NotificationMove.CLAIM) if s != _LEASED)
_LAPSED: Final = (_LEASED,)
# A practitioner's digest takes their held messages into one batch.
_HELD: Final = MACHINE.sources_of(NotificationMove.BATCH)
_BATCHED: Final = MACHINE.target_of(NotificationMove.BATCH)


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_once(self, notification: Notification) -> bool:
        """Insert unless this recipient (member) already has this event; the unique constraint
        is the arbiter, so two racing writers still produce one row. One statement."""
        return insert_once(
            self._session,
            notification,
            key=("recommendation_id", "event", "recipient", "member"),  # uq_notification_once
        )

    def get(self, notification_id: str) -> Notification | None:
        return self._session.get(Notification, notification_id)

    def claim(self, notification_id: str, *, now: datetime, lease: timedelta) -> bool:
        """Take a notification for one send if it is due; a deferred one (quiet hours,
        backoff) is not claimable before its `not_before`."""
        return leased_jobs.claim(
            self._session,
            _LEASE,
            notification_id,
            now=now,
            lease=lease,
            due_states=_DUE,
            leased_state=_LEASED.value,
            lapsed_states=_LAPSED,
        )

    def for_recommendation(self, recommendation_id: str) -> Sequence[Notification]:
        stmt = (
            select(Notification)
            .where(Notification.recommendation_id == recommendation_id)
            .order_by(Notification.created_at, Notification.member, Notification.id)
        )
        return self._session.scalars(stmt).all()

    def stuck(self, *, now: datetime, pending_before: datetime, limit: int) -> list[str]:
        stmt = (
            select(Notification.id)
            .where(
                or_(
                    # Queued before `pending_before` and never taken: its task went missing.
                    Notification.status.in_(_DUE)
                    & Notification.not_before.is_(None)
                    & (Notification.created_at <= pending_before),
                    # Deferred (quiet hours, retry backoff): due once its time has come.
                    Notification.status.in_(_DUE) & (Notification.not_before <= now),
                    Notification.status.in_(_LAPSED) & (Notification.lease_until <= now),
                )
            )
            .limit(limit)
        )
        return list(self._session.scalars(stmt))

    # Daily digests: practitioner messages held until the practitioner's digest time.

    def digest_recipients_due(self, *, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(organisation, practitioner id) of everyone with held messages now due."""
        stmt = (
            select(Recommendation.organisation_ods, Recommendation.practitioner_id)
            .join(Notification, Notification.recommendation_id == Recommendation.id)
            .where(Notification.status.in_(_HELD), Notification.not_before <= now)
            .distinct()
            .limit(limit)
        )
        return [(str(org), str(who)) for org, who in self._session.execute(stmt).tuples()]

    def claim_digest(
        self,
        *,
        organisation_ods: str,
        practitioner_id: str,
        batch_id: str,
        now: datetime,
        lease: timedelta,
    ) -> list[Notification]:
        """Move one practitioner's due held messages into a digest batch; a second claimer
        finds none left."""
        theirs = select(Recommendation.id).where(
            Recommendation.organisation_ods == organisation_ods,
            Recommendation.practitioner_id == practitioner_id,
        )
        self._session.execute(
            update(Notification)
            .where(
                Notification.status.in_(_HELD),
                Notification.not_before <= now,
                Notification.recommendation_id.in_(theirs),
            )
            .values(
                status=_BATCHED.value,
                batch_id=batch_id,
                lease_until=now + lease,
                attempt_count=Notification.attempt_count + 1,
            )
            .execution_options(synchronize_session=False)
        )
        stmt = (
            select(Notification)
            .where(Notification.batch_id == batch_id)
            .order_by(Notification.created_at, Notification.id)
        )
        return list(self._session.scalars(stmt))

    def in_batch(self, batch_id: str) -> Sequence[Notification]:
        stmt = select(Notification).where(Notification.batch_id == batch_id)
        return self._session.scalars(stmt).all()

    def events_for(self, recommendation_id: str, *, prefix: str) -> list[str]:
        """Event names starting with `prefix` already recorded (any recipient)."""
        stmt = (
            select(Notification.event)
            .where(
                Notification.recommendation_id == recommendation_id,
                Notification.event.startswith(prefix, autoescape=True),
            )
            .distinct()
        )
        return list(self._session.scalars(stmt))
