"""/v1/recommendations: submit, follow, list and cancel."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException, Query, Request, Response
from pydantic import AfterValidator, Field

from fhir_profiles.builders import resource_set_of
from gateway.api.dependencies import RecommendationsClient, UnitOfWorkDep
from gateway.api.fhir.params import STORED_TYPES
from gateway.api.links import next_page_url, public_base
from gateway.api.middleware.audit_trail import AuditedUnitOfWorkDep
from gateway.api.text_rules import plain_text
from gateway.api.v1.appointments import appointment_view
from gateway.api.v1.reengagement import follow_up_view
from gateway.api.v1.schemas import (
    Accepted,
    AppointmentOut,
    AttemptsSummary,
    Links,
    NotificationOut,
    RecommendationIn,
    RecommendationOut,
    RecommendationPage,
    RecommendationSummary,
    Strict,
    TimelineEntry,
)
from gateway.domain.audience import QuietHours
from gateway.domain.explanations import MessageState, explain
from gateway.domain.lifecycle import STATUSES
from gateway.domain.medicines import medicine_name
from gateway.services import intake, withdrawals
from gateway.services.routing import routing_view
from gateway.settings import Settings
from gateway.store.models import Notification, Recommendation
from gateway.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])


def _links(
    request: Request,
    recommendation_id: str,
    uow: UnitOfWork | None = None,
    stored: tuple[tuple[str, str], ...] = (),
) -> Links:
    """`stored`: the (type, id) of resources just written, so they are not read back."""
    base = public_base(request)
    fhir: dict[str, str] = {}
    if uow is not None and not stored:
        rows = uow.recommendations.resources_for(recommendation_id)
        if rows:
            # In the built order: a combination's first MedicationRequest (the Task's focus)
            # is the one linked; /fhir/MedicationRequest?identifier=<recommendation> finds all.
            bodies = resource_set_of([r.body for r in rows]).all()
            stored = tuple((str(r["resourceType"]), str(r["id"])) for r in bodies)
    for resource_type, resource_id in stored:
        if resource_type not in STORED_TYPES:
            continue  # the Patient and Practitioner travel with the request, not served here
        fhir.setdefault(resource_type, f"{base}/fhir/{resource_type}/{resource_id}")
    return Links(self=f"{base}/v1/recommendations/{recommendation_id}", fhir=fhir)


def _owned(uow: UnitOfWork, recommendation_id: str, organisation_ods: str) -> Recommendation:
    recommendation = uow.recommendations.get(recommendation_id)
    # Another organisation's recommendation is answered exactly like a missing one.
    if recommendation is None or recommendation.organisation_ods != organisation_ods:
        raise HTTPException(404, f"no recommendation {recommendation_id}")
    return recommendation


@router.post("", status_code=202, response_model=Accepted)
def submit_recommendation(
    body: RecommendationIn,
    request: Request,
    response: Response,
    uow: AuditedUnitOfWorkDep,
    principal: RecommendationsClient,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Accepted:
    """Accept a recommendation. With an `Idempotency-Key`, a repeat of the same body returns
    the first answer; the same key with a different body is refused (422)."""
    result = intake.submit(
        uow,
        intake.IntakeCommand(
            client_id=principal.client_id,
            organisation_ods=principal.organisation_ods,
            idempotency_key=idempotency_key,
            payload=body.as_payload(),
            registered_practice_from_pds=request.app.state.settings.pds.enabled,
        ),
        now=datetime.now(UTC),
    )
    links = _links(request, result.recommendation_id, uow, result.stored)
    response.headers["Location"] = links.self
    return Accepted(id=result.recommendation_id, status=result.status, links=links)


@router.get("/{recommendation_id}", response_model=RecommendationOut)
def get_recommendation(
    recommendation_id: str, request: Request, uow: UnitOfWorkDep, principal: RecommendationsClient
) -> RecommendationOut:
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    # The request's deliveries; a withdrawal's progress is on the timeline.
    deliveries = [
        d
        for d in uow.deliveries.for_recommendation(recommendation.id)
        if d.purpose == withdrawals.REQUEST
    ]
    latest = deliveries[-1] if deliveries else None
    return RecommendationOut(
        id=recommendation.id,
        status=recommendation.status,
        practice_ods=recommendation.practice_ods,
        routing=routing_view(recommendation.payload),
        practitioner_id=recommendation.practitioner_id,
        product=medicine_name(recommendation.product, recommendation.payload),
        created_at=recommendation.created_at,
        updated_at=recommendation.updated_at,
        timeline=[
            TimelineEntry(at=e.at, status=e.status, detail=e.detail)
            for e in uow.recommendations.timeline(recommendation.id)
        ],
        notifications=[
            NotificationOut.model_validate(
                {
                    "recipient": n.recipient,
                    "channel": n.channel,
                    "event": n.event,
                    "status": n.status,
                    "at": n.sent_at or n.created_at,
                    "not_before": n.not_before if n.status in ("pending", "held") else None,
                    # Liaison's own words; a failed send's error may quote the provider.
                    "reason": n.error if n.status in ("suppressed", "superseded") else None,
                    "member": n.member if n.recipient == "care-team" else None,
                    "explanation": _explanation(n, request.app.state.settings),
                }
            )
            for n in uow.notifications.for_recommendation(recommendation.id)
        ],
        fhir=_links(request, recommendation.id, uow).fhir,
        attempts=AttemptsSummary(
            deliveries=len(deliveries),
            attempts=sum(d.attempt_count for d in deliveries),
            state=latest.state if latest else None,
            last_error=latest.last_error if latest else None,
            next_attempt_at=latest.next_attempt_at if latest else None,
        ),
        appointment=_appointment(uow, recommendation),
        **follow_up_view(uow, recommendation, request.app.state.settings),
    )


def _explanation(n: Notification, settings: Settings) -> str:
    state = MessageState(
        recipient=n.recipient,
        channel=n.channel,
        status=n.status,
        not_before=n.not_before,
        reason=n.error if n.status in ("suppressed", "superseded") else None,
        failed_before=n.error is not None,
        sent_at=n.sent_at,
        member=n.member if n.recipient == "care-team" else None,
    )
    quiet = QuietHours(settings.audience.quiet_hours_start, settings.audience.quiet_hours_end)
    return explain(state, now=datetime.now(UTC), quiet=quiet)


def _appointment(uow: UnitOfWork, recommendation: Recommendation) -> AppointmentOut | None:
    booked = uow.appointments.current(recommendation.id)
    return appointment_view(booked, recommendation.status) if booked is not None else None


@router.get("", response_model=RecommendationPage)
def list_recommendations(
    request: Request,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
    status: Annotated[str | None, Query(description="a status word")] = None,
    practice: Annotated[str | None, Query(max_length=10)] = None,
    practitioner: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RecommendationPage:
    if status is not None and status not in STATUSES:
        raise HTTPException(422, f"status: unknown status {status!r}; one of {', '.join(STATUSES)}")
    rows, total = uow.recommendations.search(
        organisation_ods=principal.organisation_ods,
        status=status,
        practice_ods=practice,
        practitioner_id=practitioner,
        limit=limit,
        offset=offset,
    )
    next_url = next_page_url(request, offset=offset, limit=limit, total=total)
    return RecommendationPage(
        items=[
            RecommendationSummary(
                id=r.id,
                status=r.status,
                practice_ods=r.practice_ods,
                practitioner_id=r.practitioner_id,
                product=r.product,
                created_at=r.created_at,
                links=_links(request, r.id),
            )
            for r in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
        next=next_url,
    )


def _reason_text(value: str) -> str:
    plain_text(value)
    text = " ".join(value.split())
    if not text:
        raise ValueError("reason: give the reason in words, or leave it out")
    return text


class CancelIn(Strict):
    """Why the request is withdrawn, in words for the practice (sent to it with the
    withdrawal, shown on its copy of the request). Optional."""

    reason: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_reason_text)] = (
        withdrawals.CANCELLED_REASON
    )


@router.post("/{recommendation_id}/cancel", response_model=Accepted)
def cancel_recommendation(
    recommendation_id: str,
    request: Request,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
    body: Annotated[CancelIn | None, Body()] = None,
) -> Accepted:
    """Cancel the recommendation and withdraw the request from the practice that has it,
    through the route that carried it (a withdrawal delivery, retried like any other).
    Cancelling again changes nothing and sends nothing more."""
    recommendation = _owned(uow, recommendation_id, principal.organisation_ods)
    if recommendation.status == "cancelled":
        return Accepted(
            id=recommendation.id, status="cancelled", links=_links(request, recommendation.id)
        )
    reason = (body or CancelIn()).reason
    now = datetime.now(UTC)
    if not withdrawals.cancel(uow, recommendation.id, reason=reason, now=now):
        if recommendation.status == "cancelled":
            # Another cancel committed first (read again under its lock): the same answer.
            return Accepted(
                id=recommendation.id, status="cancelled", links=_links(request, recommendation.id)
            )
        raise HTTPException(
            409, f"a recommendation in status {recommendation.status!r} can no longer be cancelled"
        )
    return Accepted(
        id=recommendation.id, status="cancelled", links=_links(request, recommendation.id)
    )
