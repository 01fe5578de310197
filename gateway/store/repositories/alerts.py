"""Alerts for integration engineers: the open ones, the recent ones, and notices to send."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from gateway.store.alert_models import Alert
from gateway.store.insert_once import insert_once


def _raise_notice_due() -> object:
    return and_(
        Alert.raised_at.is_not(None), Alert.resolved_at.is_(None), Alert.notified_at.is_(None)
    )


def _resolution_notice_due() -> object:
    # Only an alert engineers were told about is worth telling them has cleared.
    return and_(
        Alert.resolved_at.is_not(None),
        Alert.notified_at.is_not(None),
        Alert.resolution_notified_at.is_(None),
    )


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def open(self) -> Sequence[Alert]:
        """Alerts not resolved: raised, or waiting to have lasted long enough."""
        stmt = select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.id)
        return self._session.scalars(stmt).all()

    def add_once(self, alert: Alert) -> bool:
        """Insert unless an open alert for the same rule and subject exists (the partial
        unique index uq_alerts_open decides). One statement."""
        return insert_once(
            self._session, alert, key=("rule", "subject"), where=Alert.resolved_at.is_(None)
        )

    def discard(self, alert: Alert) -> None:
        self._session.delete(alert)

    def get(self, alert_id: int) -> Alert | None:
        return self._session.get(Alert, alert_id)

    def raised(self, *, resolved_since: datetime, limit: int = 100) -> Sequence[Alert]:
        """Raised alerts still open, and those resolved since `resolved_since`; newest first."""
        stmt = (
            select(Alert)
            .where(
                Alert.raised_at.is_not(None),
                or_(Alert.resolved_at.is_(None), Alert.resolved_at >= resolved_since),
            )
            .order_by(Alert.resolved_at.is_not(None), Alert.raised_at.desc())
            .limit(limit)
        )
        return self._session.scalars(stmt).all()

    def firing_by_rule(self) -> dict[str, int]:
        stmt = (
            select(Alert.rule, func.count())
            .where(Alert.raised_at.is_not(None), Alert.resolved_at.is_(None))
            .group_by(Alert.rule)
        )
        return {rule: int(n) for rule, n in self._session.execute(stmt).tuples()}

    def with_notice_due(self, *, now: datetime, limit: int = 50) -> list[int]:
        stmt = (
            select(Alert.id)
            .where(
                or_(_raise_notice_due(), _resolution_notice_due()),  # type: ignore[arg-type]
                or_(Alert.notice_claimed_until.is_(None), Alert.notice_claimed_until <= now),
            )
            .order_by(Alert.id)
            .limit(limit)
        )
        return list(self._session.scalars(stmt))

    def claim_notice(self, alert_id: int, *, now: datetime, lease: timedelta) -> bool:
        """Take the alert's next notice to send; False if another sender has it or none is
        due any more."""
        stmt = (
            update(Alert)
            .where(
                Alert.id == alert_id,
                or_(_raise_notice_due(), _resolution_notice_due()),  # type: ignore[arg-type]
                or_(Alert.notice_claimed_until.is_(None), Alert.notice_claimed_until <= now),
            )
            .values(notice_claimed_until=now + lease)
        )
        result = self._session.execute(stmt)
        return bool(getattr(result, "rowcount", 0) == 1)
