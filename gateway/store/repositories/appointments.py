"""Queries over booked appointments (gateway.store.appointment_models)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store.appointment_models import Appointment
from gateway.store.models import Recommendation


class AppointmentRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, appointment: Appointment) -> None:
        self._session.add(appointment)

    def current(self, recommendation_id: str) -> Appointment | None:
        """The recommendation's latest appointment, whatever became of it."""
        stmt = (
            select(Appointment)
            .where(Appointment.recommendation_id == recommendation_id)
            .order_by(Appointment.created_at.desc(), Appointment.id.desc())
            .limit(1)
        )
        return self._session.scalars(stmt).first()

    def for_recommendation(self, recommendation_id: str) -> Sequence[Appointment]:
        stmt = (
            select(Appointment)
            .where(Appointment.recommendation_id == recommendation_id)
            .order_by(Appointment.created_at, Appointment.id)
        )
        return self._session.scalars(stmt).all()

    def booked_starting(self, after: datetime, before: datetime) -> Sequence[Appointment]:
        """Booked appointments starting in [after, before): what a reminder schedule reads."""
        stmt = (
            select(Appointment)
            .where(
                Appointment.state == "booked",
                Appointment.start_at >= after,
                Appointment.start_at < before,
            )
            .order_by(Appointment.start_at)
        )
        return self._session.scalars(stmt).all()

    def due_for_check(self, checked_before: datetime, *, limit: int = 100) -> Sequence[Appointment]:
        """Booked appointments not read from the practice since `checked_before`, least
        recently read first: the practice may have recorded attendance, or cancelled. Only
        those whose recommendation still waits on them (`appointment-booked`): once it has
        moved on (withdrawn, or the practice acted), the answer would change nothing."""
        stmt = (
            select(Appointment)
            .join(Recommendation, Recommendation.id == Appointment.recommendation_id)
            .where(
                Recommendation.status == "appointment-booked",
                Appointment.state == "booked",
                (Appointment.checked_at.is_(None)) | (Appointment.checked_at < checked_before),
            )
            .order_by(Appointment.checked_at.is_not(None), Appointment.checked_at)
            .limit(limit)
        )
        return self._session.scalars(stmt).all()
