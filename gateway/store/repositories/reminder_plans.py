"""Queries over reminder plans (gateway.store.reminder_models)."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.reminder_models import ReminderPlan


class ReminderPlanRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, recommendation_id: str) -> ReminderPlan | None:
        return self._session.get(ReminderPlan, recommendation_id)

    def put(self, plan: ReminderPlan) -> ReminderPlan:
        """Insert or replace the recommendation's one plan."""
        return self._session.merge(plan)

    def enabled(self) -> Sequence[ReminderPlan]:
        stmt = select(ReminderPlan).where(ReminderPlan.enabled.is_(True))
        return self._session.scalars(stmt.order_by(ReminderPlan.recommendation_id)).all()
