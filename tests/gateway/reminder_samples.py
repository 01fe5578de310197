"""Rows for the reminder use cases, built the same way for the in-memory and the SQLite unit
of work (tests/fakes.py and gateway.store.unit_of_work)."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gateway.domain.audience import UK
from gateway.store.appointment_models import Appointment
from gateway.store.models import Recommendation, StatusEvent
from gateway.store.reminder_models import ReminderPlan

QUIT = date(2026, 3, 9)
COPY_MOBILE = "+447700900456"
ORG = "ORG1"


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UK)


def payload(*, consent: bool = True) -> dict[str, Any]:
    return {
        "service_user": {"contact": {"mobile": "+447700900123", "preferred": "sms"}},
        "practitioner": {"email": "practitioner@example.nhs.uk"},
        "consent": {"notify_service_user": consent},
    }


def recommendation(rec_id: str, status: str, *, consent: bool = True) -> Recommendation:
    created = datetime(2026, 3, 1, tzinfo=UTC)
    return Recommendation(
        id=rec_id,
        organisation_ods=ORG,
        client_id="c1",
        practitioner_id="p1",
        practice_ods=None,
        product="varenicline",
        status=status,
        payload=payload(consent=consent),
        created_at=created,
        updated_at=created,
    )


def plan(rec_id: str, **changes: Any) -> ReminderPlan:
    fields: dict[str, Any] = {
        "recommendation_id": rec_id,
        "quit_date": QUIT,
        "medicine": "varenicline",
        "course_start": QUIT - timedelta(days=7),
        "supply_days": 28,
        "enabled": True,
        "kinds": {"kinds": ["quit-date", "follow-up"]},  # one reminder on the quit date
        "copy_consent": False,
        "service_user_consent": True,
        "morning": "09:00",
        "named_person": None,
        **changes,
    }
    return ReminderPlan(**fields)


def appointment(
    appointment_id: str, rec_id: str, *, start: datetime, state: str = "booked", made: int = 0
) -> Appointment:
    """`made`: minutes after the first booking that this one was recorded."""
    return Appointment(
        id=appointment_id,
        recommendation_id=rec_id,
        practice_ods="A12345",
        remote_id=f"remote-{appointment_id}",
        remote_version=None,
        state=state,
        start_at=start,
        end_at=start + timedelta(minutes=15),
        location_name=None,
        location_address=None,
        practitioner=None,
        slot_ids={"slots": []},
        created_at=datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=made),
    )


def ready_event(rec_id: str, when: datetime) -> StatusEvent:
    return StatusEvent(
        recommendation_id=rec_id,
        status="ready-to-collect",
        detail=None,
        source="poll",
        applied=True,
        at=when,
    )
