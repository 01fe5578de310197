"""The practice inbox: its staff accounts and the requests waiting for a practice."""

from collections.abc import Sequence

from sqlalchemy import select
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
