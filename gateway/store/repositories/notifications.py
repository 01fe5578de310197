"""Queries over notifications: one row per (recommendation, event, recipient)."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gateway.store.insert_once import insert_once
from gateway.store.models import Notification, Recommendation


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
        stmt = (
            update(Notification)
            .where(
                Notification.id == notification_id,
                or_(
                    (Notification.status == "pending")
                    & or_(Notification.not_before.is_(None), Notification.not_before <= now),
                    (Notification.status == "sending") & (Notification.lease_until <= now),
                ),
            )
            .values(
                status="sending",
                lease_until=now + lease,
                attempt_count=Notification.attempt_count + 1,
            )
        )
        result = self._session.execute(stmt)
        return bool(getattr(result, "rowcount", 0) == 1)

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
                    (Notification.status == "pending")
                    & Notification.not_before.is_(None)
                    & (Notification.created_at <= pending_before),
                    # Deferred (quiet hours, retry backoff): due once its time has come.
                    (Notification.status == "pending") & (Notification.not_before <= now),
                    (Notification.status == "sending") & (Notification.lease_until <= now),
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
            .where(Notification.status == "held", Notification.not_before <= now)
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
                Notification.status == "held",
                Notification.not_before <= now,
                Notification.recommendation_id.in_(theirs),
            )
            .values(
                status="sending",
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
