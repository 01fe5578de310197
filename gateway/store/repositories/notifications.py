"""Queries over notifications: one row per (recommendation, event, recipient)."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store.models import Notification


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_once(self, notification: Notification) -> bool:
        """Insert unless this recipient already has this event; the unique constraint is the
        arbiter, so two racing writers still produce one row."""
        exists = self._session.scalars(
            select(Notification.id).where(
                Notification.recommendation_id == notification.recommendation_id,
                Notification.event == notification.event,
                Notification.recipient == notification.recipient,
            )
        ).first()
        if exists is not None:
            return False
        savepoint = self._session.begin_nested()
        try:
            self._session.add(notification)
            self._session.flush()
        except IntegrityError:
            savepoint.rollback()
            return False
        savepoint.commit()
        return True

    def get(self, notification_id: str) -> Notification | None:
        return self._session.get(Notification, notification_id)

    def claim(self, notification_id: str, *, now: datetime, lease: timedelta) -> bool:
        stmt = (
            update(Notification)
            .where(
                Notification.id == notification_id,
                or_(
                    Notification.status == "pending",
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
            .order_by(Notification.created_at, Notification.id)
        )
        return self._session.scalars(stmt).all()

    def stuck(self, *, now: datetime, pending_before: datetime, limit: int) -> list[str]:
        stmt = (
            select(Notification.id)
            .where(
                or_(
                    (Notification.status == "pending")
                    & (Notification.created_at <= pending_before),
                    (Notification.status == "sending") & (Notification.lease_until <= now),
                )
            )
            .limit(limit)
        )
        return list(self._session.scalars(stmt))
