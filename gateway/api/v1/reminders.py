"""/v1/recommendations/{id}/reminders: the reminders a practitioner agreed with the service
user. PUT replaces the plan; GET shows it with the schedule it makes.

Without a plan, a booked appointment is still reminded (the day before and that morning);
with one, its quit date, the medicine's course milestones and the end of the supply are too,
the practitioner is prompted to check in 4 and 12 weeks after the quit date, and a person the
service user names may get copies with their consent. The defaults are on: a practitioner
turns a kind off, or every reminder off, here.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field, model_validator

from fhir_profiles.catalogue import find_product
from gateway.api.dependencies import RecommendationsClient, UnitOfWorkDep
from gateway.api.problems import problem
from gateway.api.v1.schemas import Strict, UkMobile
from gateway.domain.reminder_schedule import KINDS, PLAN_ENDED_IN, ReminderKind, schedule
from gateway.services.plan_reminders import (
    booked_appointment,
    named_person_of,
    plan_of,
    settings_of,
)
from gateway.settings import Settings
from gateway.store.models import Recommendation
from gateway.store.reminder_models import ReminderPlan
from gateway.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/recommendations", tags=["reminders"])

# A plan's dates lie within a year of today: further is a typing error, not a plan.
_HORIZON = timedelta(days=366)


class NamedPersonIn(Strict):
    """Someone the service user named to get copies of their reminders."""

    role: Literal["care-coordinator", "family-member", "carer", "other"]
    channel: Literal["sms", "email"]
    mobile: UkMobile | None = None
    email: EmailStr | None = None
    consent: bool = Field(
        description="The service user agreed that this person gets copies. Without it the "
        "person is kept but sent nothing."
    )

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if self.channel == "sms" and self.mobile is None:
            raise ValueError("a named person reached by sms needs a mobile number")
        if self.channel == "email" and self.email is None:
            raise ValueError("a named person reached by email needs an email address")
        return self

    @property
    def address(self) -> str:
        return str(self.mobile if self.channel == "sms" else self.email)


class ReminderPlanIn(Strict):
    enabled: bool = Field(True, description="false turns every reminder and follow-up off")
    quit_date: date | None = None
    course_start: date | None = Field(None, description="the first day of the medicine")
    supply_days: Annotated[int | None, Field(ge=1, le=365)] = None
    kinds: list[ReminderKind] = Field(
        default_factory=lambda: list(KINDS), max_length=len(KINDS), description="kinds on"
    )
    service_user_consent: bool = Field(
        True, description="false: the service user opted out of reminders (follow-ups stay)"
    )
    morning: Annotated[str | None, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = None
    named_person: NamedPersonIn | None = None


class NamedPersonOut(BaseModel):
    role: str
    channel: str
    consent: bool


class ScheduledOut(BaseModel):
    event: str
    recipient: str
    at: datetime


class ReminderPlanOut(BaseModel):
    recommendation_id: str
    stored: bool  # false: no plan was set; only a booked appointment is reminded
    enabled: bool
    quit_date: date | None
    course_start: date | None
    supply_days: int | None
    medicine: str | None
    kinds: list[str]
    service_user_consent: bool
    morning: str
    named_person: NamedPersonOut | None
    schedule: list[ScheduledOut]


_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such recommendation"},
    409: {"description": "the recommendation has ended: there is nothing to remind"},
    422: {"description": "a date out of range, or a supply without a start"},
}


def _owned(uow: UnitOfWork, recommendation_id: str, organisation_ods: str) -> Recommendation | None:
    recommendation = uow.recommendations.get(recommendation_id)
    if recommendation is None or recommendation.organisation_ods != organisation_ods:
        return None
    return recommendation


def _not_found(recommendation_id: str) -> JSONResponse:
    return problem(404, "not found", f"no recommendation {recommendation_id[:64]}")


def _date_problem(body: ReminderPlanIn, today: date) -> tuple[str, str] | None:
    for name in ("quit_date", "course_start"):
        value: date | None = getattr(body, name)
        if value is not None and abs(value - today) > _HORIZON:
            return name, "must be within a year of today"
    if body.supply_days is not None and body.course_start is None:
        return "course_start", "is needed to know when the supply runs out"
    return None


def _view(
    uow: UnitOfWork, recommendation: Recommendation, row: ReminderPlan | None, settings: Settings
) -> ReminderPlanOut:
    quiet = dict(
        quiet_start=settings.audience.quiet_hours_start, quiet_end=settings.audience.quiet_hours_end
    )
    rules = settings_of(row, settings.reminders, **quiet)
    named = named_person_of(row)
    appointment, _ = booked_appointment(uow, recommendation)
    planned = schedule(plan_of(row, appointment), rules, has_copy=named is not None)
    person = (row.named_person or {}) if row is not None else {}
    return ReminderPlanOut(
        recommendation_id=recommendation.id,
        stored=row is not None,
        enabled=rules.enabled,
        quit_date=row.quit_date if row else None,
        course_start=row.course_start if row else None,
        supply_days=row.supply_days if row else None,
        medicine=row.medicine if row else None,
        kinds=sorted(rules.kinds),
        service_user_consent=rules.service_user_consent,
        morning=rules.morning.strftime("%H:%M"),
        named_person=(
            NamedPersonOut(
                role=person["role"], channel=person["channel"], consent=rules.copy_consent
            )
            if person
            else None
        ),
        schedule=[ScheduledOut(event=d.event, recipient=d.recipient, at=d.at) for d in planned],
    )


def _settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


@router.get("/{recommendation_id}/reminders", response_model=ReminderPlanOut, responses=_RESPONSES)
def get_reminders(
    recommendation_id: str, request: Request, uow: UnitOfWorkDep, principal: RecommendationsClient
) -> ReminderPlanOut | JSONResponse:
    """The reminder plan and the schedule it makes (times in UTC; reminders go in the
    morning, UK time, never in quiet hours)."""
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    if recommendation is None:
        return _not_found(recommendation_id)
    row = uow.reminder_plans.get(recommendation.id)
    return _view(uow, recommendation, row, _settings(request))


@router.put("/{recommendation_id}/reminders", response_model=ReminderPlanOut, responses=_RESPONSES)
def put_reminders(
    recommendation_id: str,
    body: ReminderPlanIn,
    request: Request,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
) -> ReminderPlanOut | JSONResponse:
    """Set the reminders agreed with the service user, replacing any plan before. A
    reminder already waiting to go is checked against this plan when it is about to go."""
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    if recommendation is None:
        return _not_found(recommendation_id)
    if recommendation.status in PLAN_ENDED_IN:
        return problem(
            409,
            "recommendation ended",
            f"a recommendation in status {recommendation.status!r} has nothing to remind; "
            "re-open it first",
        )
    if why := _date_problem(body, datetime.now(UTC).date()):
        field, text = why
        return problem(
            422, "bad plan", f"{field}: {text}", errors=[{"field": field, "detail": text}]
        )
    settings = _settings(request)
    product = find_product(recommendation.product)
    named = body.named_person
    row = ReminderPlan(
        recommendation_id=recommendation.id,
        quit_date=body.quit_date,
        medicine=product.kind if product else None,
        course_start=body.course_start,
        supply_days=body.supply_days,
        enabled=body.enabled,
        kinds={"kinds": sorted(set(body.kinds))},
        copy_consent=bool(named and named.consent),
        service_user_consent=body.service_user_consent,
        morning=body.morning or settings.reminders.morning.strftime("%H:%M"),
        named_person=(
            {"role": named.role, "channel": named.channel, "address": named.address}
            if named
            else None
        ),
        updated_at=datetime.now(UTC),
    )
    stored = uow.reminder_plans.put(row)
    uow.commit()
    return _view(uow, recommendation, stored, settings)
