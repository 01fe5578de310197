"""Learn from the practice what became of booked appointments (GP Connect: read an
appointment). Beat runs `check_attendance` every LIAISON_GPCONNECT__ATTENDANCE_CHECK_SECONDS;
each booked appointment is read at most once per interval, one transaction each, so one
practice that cannot answer never holds up the others."""

import logging
from datetime import UTC, datetime, timedelta

from gateway.services.booking import Booking, BookingRefused
from gateway.settings import Settings
from gateway.store.appointment_models import Appointment
from gateway.store.unit_of_work import UnitOfWork
from workers.runtime import Runtime

log = logging.getLogger(__name__)


_BOOKINGS: dict[int, Booking] = {}


def _booking(settings: Settings) -> Booking:
    # One per process (and settings): its circuit breakers are per process, like the API's.
    return _BOOKINGS.setdefault(id(settings), Booking(settings))


def check_attendance(rt: Runtime, *, now: datetime | None = None) -> int:
    """Read the due appointments; returns how many outcomes were applied."""
    now = now or datetime.now(UTC)
    interval = timedelta(seconds=rt.settings.gpconnect.attendance_check_seconds)
    with UnitOfWork(rt.session_factory) as uow:
        due = [a.id for a in uow.appointments.due_for_check(now - interval)]
    applied = 0
    for appointment_id in due:
        with UnitOfWork(rt.session_factory) as uow:
            appointment = uow.session.get(Appointment, appointment_id)
            if appointment is None:
                continue
            try:
                outcome = _booking(rt.settings).check_attendance(uow, appointment, now=now)
            except BookingRefused as refused:
                log.info(
                    "attendance not read",
                    extra={"appointment_id": appointment_id, "kind": str(refused.kind)},
                )
                uow.session.rollback()
                continue
            applied += outcome is not None  # check_attendance committed it
    return applied
