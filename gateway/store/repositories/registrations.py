"""Queries over registration checks: each look at PDS and ODS before a delivery."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.store.models import RegistrationCheck

ROUTED = ("routed", "corrected")


class RegistrationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, check: RegistrationCheck) -> None:
        self._session.add(check)

    def routed(self, recommendation_id: str) -> RegistrationCheck | None:
        """The latest check that routed the recommendation, if any did."""
        stmt = (
            select(RegistrationCheck)
            .where(
                RegistrationCheck.recommendation_id == recommendation_id,
                RegistrationCheck.outcome.in_(ROUTED),
            )
            .order_by(RegistrationCheck.checked_at.desc(), RegistrationCheck.id.desc())
            .limit(1)
        )
        return self._session.scalars(stmt).first()

    def waits(self, delivery_id: str) -> int:
        """How many times this delivery has waited for PDS or ODS (its backoff step)."""
        stmt = select(func.count()).where(
            RegistrationCheck.delivery_id == delivery_id, RegistrationCheck.outcome == "waiting"
        )
        return int(self._session.scalar(stmt) or 0)

    def for_recommendation(self, recommendation_id: str) -> Sequence[RegistrationCheck]:
        stmt = (
            select(RegistrationCheck)
            .where(RegistrationCheck.recommendation_id == recommendation_id)
            .order_by(RegistrationCheck.checked_at, RegistrationCheck.id)
        )
        return self._session.scalars(stmt).all()
