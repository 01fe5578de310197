"""Use cases: offer a practice's free slots, book one, cancel it, and learn whether the service
user came. The I/O edge between the store and the GP Connect adapter; the rules are in
gateway.domain.booking. Booking, cancelling, recording an outcome and checking attendance each
commit (one edge calls each, in a transaction of its own); the rest leave it to the caller.

The practice's endpoint is called while the request waits, so each practice has a circuit
breaker in this process (gateway.domain.isolation): after repeated failures calls stop for a
while and the caller is told to try again later, instead of every request waiting on timeouts.
"""

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited
from adapters.gp_connect_appointments import (
    GpConnectAppointments,
    GpConnectOptions,
    Requester,
    SlotUnavailable,
)
from adapters.gp_connect_resources import AppointmentRecord, BookingOrganisation, FreeSlot
from gateway.domain import booking as rules
from gateway.domain.errors import ErrorKind, FieldError, LiaisonError
from gateway.domain.isolation import (
    Breaker,
    BreakerPolicy,
    admit,
    record_failure,
    record_success,
)
from gateway.domain.messages import practice_telephone
from gateway.practice_directory import AppointmentManagement, settings_of
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import Settings
from gateway.store.appointment_models import Appointment
from gateway.store.models import Recommendation
from gateway.store.ports import UnitOfWorkPort

ClientFactory = Callable[[str, AppointmentManagement], GpConnectAppointments]


class BookingRefused(LiaisonError):
    """Why the request cannot be done now. The API answers it by its kind (a practice whose
    system cannot answer is `unavailable`, with `retry_after`); `title` heads the answer."""

    def __init__(
        self,
        kind: ErrorKind,
        title: str,
        detail: str,
        *,
        retry_after: float | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(detail, kind=kind, title=title, field=field, retry_after=retry_after)

    @property
    def errors(self) -> list[FieldError]:
        # The request field the refusal is about, with the detail as it stands.
        return [FieldError(self.field, self.detail)] if self.field else []


@dataclass(frozen=True)
class BookingRequest:
    slot_id: str
    slot_start: datetime
    organisation_name: str
    organisation_telephone: str


class _Breakers:
    def __init__(self, policy: BreakerPolicy) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self._states: dict[str, Breaker] = {}

    def admit(self, ods: str, now: datetime) -> datetime | None:
        with self._lock:
            admission = admit(self._states.get(ods, Breaker()), self._policy, now=now)
            self._states[ods] = admission.breaker
        return None if admission.allowed else admission.retry_at or now

    def record(self, ods: str, error: AdapterError | None, now: datetime) -> None:
        # A refusal (4xx) shows the endpoint is up: only failures to answer count.
        healthy = error is None or isinstance(error, PermanentAdapterError | RateLimited)
        with self._lock:
            state = self._states.get(ods, Breaker())
            self._states[ods] = (
                record_success(state) if healthy else record_failure(state, self._policy, now=now)
            )


class Booking:
    """One per process (the API's `app.state.booking`; the worker's runtime)."""

    def __init__(self, settings: Settings, factory: ClientFactory | None = None) -> None:
        self._settings = settings
        self._factory = factory or self._client
        self._breakers = _Breakers(
            BreakerPolicy(
                failure_threshold=settings.delivery.breaker_failure_threshold,
                open_seconds=settings.delivery.breaker_open_seconds,
                probe_lease_seconds=max(settings.delivery.http_timeout_seconds * 2, 10.0),
            )
        )

    def _client(self, ods: str, endpoint: AppointmentManagement) -> GpConnectAppointments:
        return GpConnectAppointments(
            GpConnectOptions(
                base_url=endpoint.base_url,
                consumer_asid=self._settings.gpconnect.consumer_asid,
                provider_asid=endpoint.provider_asid,
                consumer_url=self._settings.api.public_base_url,
                ssp_url=self._settings.gpconnect.ssp_url,
                organisation_type=endpoint.organisation_type,
                timeout=self._settings.delivery.http_timeout_seconds,
            )
        )

    def endpoint(
        self, uow: UnitOfWorkPort, recommendation: Recommendation
    ) -> AppointmentManagement:
        """The practice's Appointment Management endpoint, or BookingRefused (a conflict) saying
        how the service user books instead."""
        practice = uow.practices.get(recommendation.practice_ods or "")
        found = settings_of(practice).appointments if practice is not None else None
        if found is None:
            telephone = practice_telephone(recommendation.payload)
            how = f"on {telephone}" if telephone else "by telephone"
            raise BookingRefused(
                ErrorKind.CONFLICT,
                "no appointment booking at this practice",
                f"practice {recommendation.practice_ods or '(not yet known)'} does not offer "
                f"GP Connect Appointment Management: the service user books with the practice "
                f"{how}",
            )
        return found

    def _call(self, ods: str, endpoint: AppointmentManagement, work: Callable[[Any], Any]) -> Any:
        now = datetime.now().astimezone()
        retry_at = self._breakers.admit(ods, now)
        if retry_at is not None:
            raise BookingRefused(
                ErrorKind.UNAVAILABLE,
                "practice unavailable",
                f"practice {ods}'s appointment system keeps failing; try again later",
                retry_after=max(1.0, (retry_at - now).total_seconds()),
            )
        error: AdapterError | None = None
        try:
            with self._factory(ods, endpoint) as client:
                return work(client)
        except SlotUnavailable:
            raise
        except PermanentAdapterError as failure:
            error = failure
            raise BookingRefused(
                ErrorKind.INVALID,
                "refused by the practice",
                f"practice {ods}'s system refused: {failure}",
                field="body",
            ) from failure
        except AdapterError as failure:
            error = failure
            raise BookingRefused(
                ErrorKind.UNAVAILABLE,
                "practice unavailable",
                f"practice {ods}'s appointment system did not answer: {failure}",
                retry_after=getattr(failure, "retry_after", 30.0),
            ) from failure
        finally:
            self._breakers.record(ods, error, datetime.now().astimezone())

    def slots(
        self, uow: UnitOfWorkPort, recommendation: Recommendation, start: datetime, end: datetime
    ) -> list[FreeSlot]:
        _require_status(recommendation, rules.BOOKABLE_IN, "offered slots")
        endpoint = self.endpoint(uow, recommendation)
        ods = str(recommendation.practice_ods)
        found: list[FreeSlot] = self._call(
            ods,
            endpoint,
            lambda c: c.search_free_slots(
                _requester(recommendation, None),
                start=start,
                end=end,
                consumer_ods=recommendation.organisation_ods,
            ),
        )
        return found

    def book(
        self, uow: UnitOfWorkPort, recommendation: Recommendation, wanted: BookingRequest
    ) -> Appointment:
        """Book the slot at the practice and record it; commits."""
        _require_status(recommendation, rules.BOOKABLE_IN, "booked")
        endpoint = self.endpoint(uow, recommendation)
        ods = str(recommendation.practice_ods)
        requester = _requester(recommendation, wanted.organisation_name)
        organisation = BookingOrganisation(
            recommendation.organisation_ods,
            wanted.organisation_name,
            wanted.organisation_telephone,
            endpoint.organisation_type,
        )

        def work(client: GpConnectAppointments) -> tuple[FreeSlot, AppointmentRecord]:
            start = wanted.slot_start - timedelta(minutes=1)
            free = client.search_free_slots(
                requester,
                start=start,
                end=start + timedelta(days=1),
                consumer_ods=recommendation.organisation_ods,
            )
            slot = next((s for s in free if s.slot_id == wanted.slot_id), None)
            if slot is None:
                raise _slot_gone(wanted.slot_id)
            patient = client.find_patient(requester, _nhs_number(recommendation))
            if patient is None:
                raise BookingRefused(
                    ErrorKind.INVALID,
                    "patient not found at the practice",
                    f"practice {ods}'s system has no patient with the service user's NHS number",
                    field="service_user.nhs_number",
                )
            return slot, client.book(
                requester,
                patient_id=patient,
                slot=slot,
                organisation=organisation,
                description=rules.description(),
                comment=rules.comment(recommendation.id, recommendation.organisation_ods),
            )

        try:
            slot, record = self._call(ods, endpoint, work)
        except SlotUnavailable as taken:
            raise _slot_gone(wanted.slot_id) from taken
        appointment = self._record_booking(uow, recommendation, slot, record, organisation)
        uow.commit()
        return appointment

    def _record_booking(
        self,
        uow: UnitOfWorkPort,
        recommendation: Recommendation,
        slot: FreeSlot,
        record: AppointmentRecord,
        organisation: BookingOrganisation,
    ) -> Appointment:
        now = datetime.now().astimezone()
        appointment = Appointment(
            id=str(uuid.uuid4()),
            recommendation_id=recommendation.id,
            practice_ods=str(recommendation.practice_ods),
            remote_id=record.appointment_id,
            remote_version=record.version_id,
            state="booked",
            start_at=record.start,
            end_at=record.end,
            location_name=slot.location_name,
            location_address=slot.location_address,
            practitioner=slot.practitioner,
            slot_ids={"slots": list(record.slot_ids)},
            created_at=now,
            updated_at=now,
        )
        uow.appointments.add(appointment)
        # Kept on the recommendation too, for the messages that name the time and place.
        recommendation.payload = {
            **recommendation.payload,
            "appointment": {
                "start": record.start.isoformat(),
                "end": record.end.isoformat(),
                "location_name": slot.location_name,
                "location_address": slot.location_address,
                "booked_by": organisation.name,
            },
        }
        uow.flush()
        apply_status(
            uow,
            StatusChange(recommendation.id, rules.BOOKED, source="practitioner"),
            now=now,
        )
        return appointment

    def cancel(self, uow: UnitOfWorkPort, recommendation: Recommendation) -> Appointment:
        """Cancel the booked appointment at the practice and record it; commits."""
        # A withdrawn recommendation's appointment stands until someone cancels it: the
        # service user may still want to see their GP.
        _require_status(recommendation, rules.CANCELLABLE_IN, "cancelled")
        appointment = _booked(uow, recommendation)
        endpoint = self.endpoint(uow, recommendation)
        requester = _requester(recommendation, None)
        record: AppointmentRecord = self._call(
            appointment.practice_ods,
            endpoint,
            lambda c: c.cancel(requester, appointment.remote_id, rules.cancellation_reason()),
        )
        self._close(uow, recommendation, appointment, "cancelled", "practitioner", record)
        uow.commit()
        return appointment

    def record_outcome(
        self, uow: UnitOfWorkPort, recommendation: Recommendation, outcome: str, *, source: str
    ) -> Appointment:
        """The practitioner (or the practice's Appointment status) says what happened; commits."""
        _require_status(recommendation, frozenset({rules.BOOKED}), "given an outcome")
        appointment = _booked(uow, recommendation)
        self._close(uow, recommendation, appointment, outcome, source, None)
        uow.commit()
        return appointment

    def check_attendance(
        self, uow: UnitOfWorkPort, appointment: Appointment, *, now: datetime
    ) -> str | None:
        """Read the practice's Appointment; apply what it says happened (attended, did not
        attend, cancelled by the practice). Returns the outcome applied, or None while the
        practice has recorded nothing. Commits either way (when it was checked is kept, so it
        is not asked again within the interval); a refusal raises with nothing committed."""
        outcome = self._attendance(uow, appointment, now=now)
        uow.commit()
        return outcome

    def _attendance(
        self, uow: UnitOfWorkPort, appointment: Appointment, *, now: datetime
    ) -> str | None:
        recommendation = uow.recommendations.get_for_update(appointment.recommendation_id)
        appointment.checked_at = now
        if recommendation is None or recommendation.status != rules.BOOKED:
            return None
        endpoint = self.endpoint(uow, recommendation)
        record: AppointmentRecord = self._call(
            appointment.practice_ods,
            endpoint,
            lambda c: c.read(_requester(recommendation, None), appointment.remote_id),
        )
        outcome = rules.outcome_of(record.status)
        if outcome is None:
            return None
        self._close(uow, recommendation, appointment, outcome, "practice", record)
        return outcome

    def _close(
        self,
        uow: UnitOfWorkPort,
        recommendation: Recommendation,
        appointment: Appointment,
        outcome: str,
        source: str,
        record: AppointmentRecord | None,
    ) -> Appointment:
        now = datetime.now().astimezone()
        appointment.state = outcome
        appointment.outcome_source = source
        appointment.updated_at = now
        if record is not None:
            appointment.remote_version = record.version_id
        if recommendation.status != rules.BOOKED:
            return appointment  # withdrawn already: the recommendation has nowhere to go
        # A cancelled appointment asks for one again; attendance is the lifecycle's word.
        target = "appointment-needed" if outcome == "cancelled" else outcome
        detail = {
            "cancelled": f"appointment cancelled ({source})",
            "attended": f"attended the appointment ({source})",
            "did-not-attend": f"did not attend the appointment ({source})",
        }[outcome]
        apply_status(
            uow,
            # The practice's answer was read by polling it, as Task status is.
            StatusChange(
                recommendation.id,
                target,
                source="poll" if source == "practice" else source,
                detail=detail,
            ),
            now=now,
        )
        return appointment


def with_booking_offer(uow: UnitOfWorkPort, recommendation: Recommendation) -> dict[str, Any]:
    """The payload, marked when the practice offers GP Connect booking and the recommendation
    can be booked now, so the practitioner's message says they can book it through Liaison."""
    if recommendation.status not in rules.BOOKABLE_IN:
        return recommendation.payload
    practice = uow.practices.get(recommendation.practice_ods or "")
    if practice is None or settings_of(practice).appointments is None:
        return recommendation.payload
    return {**recommendation.payload, "booking_offered": True}


def _require_status(recommendation: Recommendation, allowed: frozenset[str], what: str) -> None:
    if recommendation.status not in allowed:
        raise BookingRefused(
            ErrorKind.CONFLICT,
            "not in a state for this",
            f"a recommendation in status {recommendation.status!r} cannot be {what}; "
            f"it can in {', '.join(sorted(allowed))}",
        )


def _booked(uow: UnitOfWorkPort, recommendation: Recommendation) -> Appointment:
    appointment = uow.appointments.current(recommendation.id)
    if appointment is None or appointment.state != "booked":
        raise BookingRefused(
            ErrorKind.CONFLICT, "no appointment booked", "there is no booked appointment"
        )
    return appointment


def _slot_gone(slot_id: str) -> BookingRefused:
    return BookingRefused(
        ErrorKind.CONFLICT,
        "slot no longer free",
        f"slot {slot_id} is no longer free at the practice: list the slots again and choose "
        "another",
    )


def _nhs_number(recommendation: Recommendation) -> str:
    return str(recommendation.payload["service_user"]["nhs_number"])


def _requester(recommendation: Recommendation, organisation_name: str | None) -> Requester:
    practitioner = recommendation.payload.get("practitioner") or {}
    booked_by = (recommendation.payload.get("appointment") or {}).get("booked_by")
    return Requester(
        practitioner_id=str(practitioner.get("id") or recommendation.practitioner_id),
        practitioner_name=str(practitioner.get("name") or "Unknown"),
        organisation_ods=recommendation.organisation_ods,
        organisation_name=organisation_name or str(booked_by or recommendation.organisation_ods),
    )
