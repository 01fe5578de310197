"""Appointments Liaison booked through GP Connect Appointment Management.

One row per booking: its time and place as the practice's endpoint gave them, and what
became of it. `start_at` is indexed so schedulers (reminders the day before and on the
morning) can ask "which booked appointments start between X and Y" without reading payloads.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, utcnow

APPOINTMENT_STATES = ("booked", "cancelled", "attended", "did-not-attend")


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_state_start", "state", "start_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    practice_ods: Mapped[str] = mapped_column(String(10))
    # The practice system's Appointment id and version (the ETag a cancellation must match).
    remote_id: Mapped[str] = mapped_column(String(64))
    remote_version: Mapped[str | None] = mapped_column(String(64))
    # booked | cancelled | attended | did-not-attend
    state: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    location_name: Mapped[str | None] = mapped_column(String(200))
    location_address: Mapped[str | None] = mapped_column(String(500))
    practitioner: Mapped[str | None] = mapped_column(String(200))
    slot_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"slots": [...]}
    # Who said what happened: practice (its Appointment status) | practitioner.
    outcome_source: Mapped[str | None] = mapped_column(String(16))
    outcome_detail: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None]  # last read of the practice's Appointment
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
