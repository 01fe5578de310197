"""Re-opening a recommendation, and the follow-up a practitioner sees on it (chase-ups,
the re-engagement chain, whether it has expired)."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, Field, ValidationError

from gateway.api.dependencies import RecommendationsClient, UnitOfWorkDep
from gateway.api.links import public_url
from gateway.api.text_rules import plain_text
from gateway.api.v1.schemas import (
    Accepted,
    ChainLink,
    ChaseUpOut,
    Consent,
    Contact,
    CurrentMedication,
    Links,
    MedicationIn,
    PracticeRef,
    RecommendationIn,
    Strict,
)
from gateway.reengagement_policy import expiry_policy
from gateway.services.reengagement import chain, is_expired, reopen, reopened_payload
from gateway.settings import Settings
from gateway.store.models import Recommendation
from gateway.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])


class ReopenIn(Strict):
    """What changes when a recommendation is re-opened; anything left out stays as it was.
    A different practice (the service user moved), another medicine, fresh consent."""

    gp_practice: PracticeRef | None = None
    medication: MedicationIn | None = None
    plan: Literal["quit", "reduce", "temporary-abstinence"] | None = None
    current_medications: Annotated[list[CurrentMedication], Field(max_length=50)] | None = None
    consent: Consent | None = None
    contact: Contact | None = Field(default=None, description="the service user's contact")
    note: Annotated[str, Field(max_length=2000), AfterValidator(plain_text)] | None = None


def follow_up_view(
    uow: UnitOfWork, recommendation: Recommendation, settings: Settings
) -> dict[str, Any]:
    """The follow-up fields of `RecommendationOut`."""
    linked = chain(uow, recommendation)
    position = next(i for i, r in enumerate(linked) if r.id == recommendation.id)
    successor = linked[position + 1] if position + 1 < len(linked) else None
    return {
        "chase_ups": [
            ChaseUpOut.model_validate(
                {
                    "number": c.number,
                    "state": c.state,
                    "created_at": c.created_at,
                    "sent_at": c.sent_at,
                }
            )
            for c in uow.follow_ups.chase_ups_for(recommendation.id)
        ],
        "predecessor_id": recommendation.predecessor_id,
        "successor_id": successor.id if successor else None,
        "chain": (
            [ChainLink(id=r.id, status=r.status, created_at=r.created_at) for r in linked]
            if len(linked) > 1
            else []
        ),
        "expired": is_expired(
            uow, recommendation, now=datetime.now(UTC), policy=expiry_policy(settings)
        ),
    }


def _merged(original: dict[str, Any], body: ReopenIn | None) -> dict[str, Any]:
    # Only the request's own fields: Liaison adds facts to the stored payload (the pharmacy).
    base = {k: v for k, v in original.items() if k in RecommendationIn.model_fields}
    changes = body.model_dump(mode="json", exclude_unset=True) if body else {}
    contact = changes.pop("contact", None)
    if contact is not None:
        base["service_user"] = {**base["service_user"], "contact": contact}
    try:
        merged = RecommendationIn.model_validate(reopened_payload(base, changes))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    return merged.as_payload()


@router.post(
    "/{recommendation_id}/reopen",
    status_code=202,
    response_model=Accepted,
    responses={409: {"description": "still in progress, or already re-opened"}},
)
def reopen_recommendation(
    recommendation_id: str,
    request: Request,
    response: Response,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
    body: Annotated[ReopenIn | None, Body()] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Accepted:
    """Re-open a rejected, cancelled, failed or expired recommendation when the service user
    is ready again. Creates a linked successor that goes through the whole pipeline; the
    original keeps its history. `GET` on either shows the chain."""
    predecessor = uow.recommendations.get(recommendation_id)
    if predecessor is None or predecessor.organisation_ods != principal.organisation_ods:
        raise HTTPException(404, f"no recommendation {recommendation_id}")
    settings: Settings = request.app.state.settings
    result = reopen(
        uow,
        predecessor=predecessor,
        client_id=principal.client_id,
        idempotency_key=idempotency_key,
        payload=_merged(predecessor.payload, body),
        now=datetime.now(UTC),
        policy=expiry_policy(settings),
        registered_practice_from_pds=settings.pds.enabled,
    )
    url = public_url(request, f"/v1/recommendations/{result.recommendation_id}")
    response.headers["Location"] = url
    return Accepted(id=result.recommendation_id, status=result.status, links=Links(self=url))
