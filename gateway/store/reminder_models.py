"""The reminder plan a practitioner agreed for one recommendation.

One row per recommendation; gateway.domain.reminder_schedule turns it into dated events.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, utcnow


class ReminderPlan(Base):
    __tablename__ = "reminder_plans"

    recommendation_id: Mapped[str] = mapped_column(
        ForeignKey("recommendations.id"), primary_key=True
    )
    quit_date: Mapped[date | None]
    medicine: Mapped[str | None] = mapped_column(String(32))
    course_start: Mapped[date | None]
    supply_days: Mapped[int | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    kinds: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"kinds": [...]}
    copy_consent: Mapped[bool] = mapped_column(default=False)
    service_user_consent: Mapped[bool] = mapped_column(default=True)
    morning: Mapped[str] = mapped_column(String(5), default="09:00")  # HH:MM, UK local
    # Who gets copies: {"role", "channel", "address", "consent"} (gateway.domain.audience).
    named_person: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
