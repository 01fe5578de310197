"""The practice inbox: its staff accounts and the requests waiting for a practice."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from gateway.store.models import Delivery, InboxUser, Recommendation


class InboxRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def user(self, practice_ods: str, username: str) -> InboxUser | None:
        stmt = select(InboxUser).where(
            InboxUser.practice_ods == practice_ods, InboxUser.username == username
        )
        return self._session.scalars(stmt).first()

    def user_by_id(self, user_id: int) -> InboxUser | None:
        return self._session.get(InboxUser, user_id)

    def users(self, practice_ods: str | None = None) -> Sequence[InboxUser]:
        stmt = select(InboxUser).order_by(InboxUser.practice_ods, InboxUser.username)
        if practice_ods is not None:
            stmt = stmt.where(InboxUser.practice_ods == practice_ods)
        return self._session.scalars(stmt).all()

    def add_user(self, user: InboxUser) -> None:
        self._session.add(user)

    def reserve_attempt(self, user_id: int, *, now: datetime) -> int | None:
        """Count a sign-in attempt before its password is checked, in one statement, so
        parallel guesses cannot all pass the lockout check first. Returns the attempts
        since the last success (or lapsed lockout), or None while the account is locked."""
        lapsed = InboxUser.locked_until.is_not(None) & (InboxUser.locked_until <= now)
        stmt = (
            update(InboxUser)
            .where(
                InboxUser.id == user_id,
                or_(InboxUser.locked_until.is_(None), InboxUser.locked_until <= now),
            )
            .values(
                failed_sign_ins=case((lapsed, 1), else_=InboxUser.failed_sign_ins + 1),
                locked_until=None,
            )
            .returning(InboxUser.failed_sign_ins)
            .execution_options(synchronize_session=False)
        )
        return self._session.execute(stmt).scalar_one_or_none()

    def lock(self, user_id: int, *, until: datetime) -> None:
        self._session.execute(
            update(InboxUser)
            .where(InboxUser.id == user_id)
            .values(locked_until=until)
            .execution_options(synchronize_session=False)
        )

    def signed_in(self, user_id: int, *, now: datetime, password_hash: str | None) -> None:
        values: dict[str, object] = {
            "failed_sign_ins": 0,
            "locked_until": None,
            "last_sign_in_at": now,
        }
        if password_hash is not None:
            values["password_hash"] = password_hash
        self._session.execute(
            update(InboxUser)
            .where(InboxUser.id == user_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def requests(
        self, practice_ods: str, statuses: Sequence[str], *, limit: int = 200
    ) -> Sequence[Recommendation]:
        stmt = (
            select(Recommendation)
            .where(Recommendation.practice_ods == practice_ods, Recommendation.status.in_(statuses))
            .order_by(Recommendation.created_at)
            .limit(limit)
        )
        return self._session.scalars(stmt).all()

    def withdrawn(self, practice_ods: str, *, limit: int = 50) -> Sequence[Recommendation]:
        """Requests withdrawn from this practice, latest withdrawal first."""
        stmt = (
            select(Recommendation)
            .join(Delivery, Delivery.recommendation_id == Recommendation.id)
            .where(
                Delivery.purpose == "withdrawal",
                Delivery.practice_ods == practice_ods,
            )
            .order_by(Delivery.created_at.desc())
            .limit(limit)
        )
        return list(dict.fromkeys(self._session.scalars(stmt).all()))
