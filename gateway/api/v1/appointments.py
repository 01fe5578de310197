"""/v1/recommendations/{id}/slots and /appointment: book the appointment the practice asked
for, on the service user's behalf, as the practitioner agreed it with them (GP Connect
Appointment Management at practices that offer it)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from gateway.api.dependencies import RecommendationsClient, UnitOfWorkDep
from gateway.api.problems import problem
from gateway.api.text_rules import ShortText
from gateway.api.v1.schemas import AppointmentOut, Place
from gateway.domain import booking as rules
from gateway.domain.errors import ErrorKind
from gateway.services.booking import Booking, BookingRefused, BookingRequest
from gateway.store.appointment_models import Appointment
from gateway.store.models import Recommendation
from gateway.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/recommendations", tags=["appointments"])

_TEXT = ShortText


class SlotOut(BaseModel):
    id: str
    start: datetime
    end: datetime
    service_type: str | None
    delivery_channel: str | None
    location: Place
    practitioner: str | None


class SlotsOut(BaseModel):
    practice_ods: str
    start: datetime
    end: datetime
    slots: list[SlotOut]


class BookingOrganisationIn(BaseModel):
    """The booking organisation GP Connect records (its ODS code is the caller's)."""

    name: _TEXT
    telephone: Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[0-9 +()-]+$")]


class AppointmentIn(BaseModel):
    slot_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9.-]+$")]
    start: AwareDatetime  # the slot's start, as listed
    booking_organisation: BookingOrganisationIn


class OutcomeIn(BaseModel):
    outcome: Literal["attended", "did-not-attend"]


def _owned(uow: UnitOfWork, recommendation_id: str, organisation_ods: str) -> Recommendation:
    recommendation = uow.recommendations.get_for_update(recommendation_id)
    if recommendation is None or recommendation.organisation_ods != organisation_ods:
        raise BookingRefused(
            ErrorKind.NOT_FOUND, "not found", f"no recommendation {recommendation_id}"
        )
    return recommendation


def appointment_view(appointment: Appointment, status: str) -> AppointmentOut:
    return AppointmentOut(
        id=appointment.id,
        recommendation_id=appointment.recommendation_id,
        practice_ods=appointment.practice_ods,
        state=appointment.state,
        start=appointment.start_at,
        end=appointment.end_at,
        location=Place(name=appointment.location_name, address=appointment.location_address),
        practitioner=appointment.practitioner,
        outcome_source=appointment.outcome_source,
        recommendation_status=status,
    )


def _booking(request: Request) -> Booking:
    found: Booking = request.app.state.booking
    return found


_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such recommendation"},
    409: {"description": "no Appointment Management at the practice, wrong state, slot gone"},
    422: {"description": "a bad window or body, or the practice's system refused"},
    503: {"description": "the practice's appointment system cannot answer now (Retry-After)"},
}


@router.get("/{recommendation_id}/slots", response_model=SlotsOut, responses=_REFUSALS)
def list_slots(
    recommendation_id: str,
    request: Request,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
    start: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    end: Annotated[AwareDatetime | None, Query(description="default: start + 7 days")] = None,
) -> SlotsOut | JSONResponse:
    """Free slots at the service user's practice (GP Connect search for free slots), for a
    recommendation whose practice asks to see them (`appointment-needed`, `did-not-attend`)."""
    now = datetime.now().astimezone()
    try:
        start = start or now
        end = end or start + rules.DEFAULT_WINDOW
        why = rules.window_problem(start, end, now=now)
    except OverflowError:
        start = end = now
        why = ("start", "a date is out of range")
    if why is not None:
        field, text = why
        return problem(
            422, "bad window", f"{field}: {text}", errors=[{"field": field, "detail": text}]
        )
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    slots = _booking(request).slots(uow, recommendation, max(start, now), end)
    return SlotsOut(
        practice_ods=str(recommendation.practice_ods),
        start=start,
        end=end,
        slots=[
            SlotOut(
                id=s.slot_id,
                start=s.start,
                end=s.end,
                service_type=s.service_type,
                delivery_channel=s.delivery_channel,
                location=Place(name=s.location_name, address=s.location_address),
                practitioner=s.practitioner,
            )
            for s in slots
        ],
    )


@router.post(
    "/{recommendation_id}/appointment",
    status_code=201,
    response_model=AppointmentOut,
    responses=_REFUSALS,
)
def book_appointment(
    recommendation_id: str,
    body: AppointmentIn,
    request: Request,
    response: Response,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
) -> AppointmentOut | JSONResponse:
    """Book a listed slot for the service user. The service user is sent the time and place
    (if they agreed to messages); the practice is told only that their care team booked it.
    Repeating the request for the slot already booked answers 200 with that booking."""
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    current = uow.appointments.current(recommendation.id)
    if (
        recommendation.status == rules.BOOKED
        and current is not None
        and current.state == "booked"
        and body.slot_id in (current.slot_ids or {}).get("slots", [])
    ):
        # A repeat of the booking that was made (a retry after a lost answer): the same
        # answer, and nothing is booked twice.
        response.status_code = 200
        return appointment_view(current, recommendation.status)
    appointment = _booking(request).book(
        uow,
        recommendation,
        BookingRequest(
            slot_id=body.slot_id,
            slot_start=body.start,
            organisation_name=body.booking_organisation.name,
            organisation_telephone=body.booking_organisation.telephone,
        ),
    )
    return appointment_view(appointment, recommendation.status)


@router.get("/{recommendation_id}/appointment", response_model=AppointmentOut, responses=_REFUSALS)
def get_appointment(
    recommendation_id: str, uow: UnitOfWorkDep, principal: RecommendationsClient
) -> AppointmentOut | JSONResponse:
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    appointment = uow.appointments.current(recommendation.id)
    if appointment is None:
        return problem(404, "not found", "no appointment was booked for this recommendation")
    return appointment_view(appointment, recommendation.status)


@router.delete(
    "/{recommendation_id}/appointment", response_model=AppointmentOut, responses=_REFUSALS
)
def cancel_appointment(
    recommendation_id: str, request: Request, uow: UnitOfWorkDep, principal: RecommendationsClient
) -> AppointmentOut | JSONResponse:
    """Cancel the booked appointment at the practice; the recommendation waits for another
    (`appointment-needed`)."""
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    appointment = _booking(request).cancel(uow, recommendation)
    return appointment_view(appointment, recommendation.status)


@router.put(
    "/{recommendation_id}/appointment/outcome",
    response_model=AppointmentOut,
    responses=_REFUSALS,
)
def record_outcome(
    recommendation_id: str,
    body: OutcomeIn,
    request: Request,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
) -> AppointmentOut | JSONResponse:
    """The practitioner records whether the service user attended (when the practice's
    system does not say). A did-not-attend tells the practitioner and allows booking again."""
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    appointment = _booking(request).record_outcome(
        uow, recommendation, body.outcome, source="practitioner"
    )
    return appointment_view(appointment, recommendation.status)
