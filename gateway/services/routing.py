"""Use case: record what asking PDS and ODS decided for a delivery (gateway.domain.registration).

Routed: the recommendation and its delivery take the practice, the FHIR resources are
rebuilt addressed to it, the timeline says where it goes and why, and a correction of the
practitioner's ODS code is told to them. Stopped: the lifecycle moves to the stopping status
with the reason (the practitioner hears), and the delivery never goes. Waiting: the delivery
is retried later, with the reason visible. The caller commits.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_profiles.builders import build_resources
from gateway.domain import delivery_states
from gateway.domain.delivery_states import DeliveryMove
from gateway.domain.registration import Routed, Stopped
from gateway.services.intake import chase_deadline, facts_from_payload, given_practice
from gateway.services.status_updates import StatusChange, apply_status, record_event
from gateway.store.models import (
    Delivery,
    FhirResource,
    Recommendation,
    RegistrationCheck,
    StatusEvent,
)
from gateway.store.ports import UnitOfWorkPort

SOURCE = "registration"


@dataclass(frozen=True)
class Pharmacy:
    ods_code: str
    name: str | None


def apply_route(
    uow: UnitOfWorkPort,
    delivery: Delivery,
    routed: Routed,
    *,
    current_nhs_number: str | None,
    pharmacy: Pharmacy | None,
    now: datetime,
    event: str = "practice-corrected",
) -> None:
    """`event`: what the practitioner hears when the practice is not the one given (or, for
    a re-registration, not the one the request went to)."""
    recommendation = uow.recommendations.get_for_update(delivery.recommendation_id)
    assert recommendation is not None
    given = given_practice(recommendation.payload)
    payload = dict(recommendation.payload)
    if current_nhs_number and current_nhs_number != payload["service_user"]["nhs_number"]:
        # PDS superseded the number: the request names the service user by the current one.
        payload["service_user"] = {**payload["service_user"], "nhs_number": current_nhs_number}
    practice = routed.practice
    payload["routing"] = {
        "ods_code": routed.ods_code,
        "name": practice.name if practice else None,
        "telephone": practice.telephone if practice else None,
        "given_ods_code": given,
        "corrected": routed.corrected,
        "source": "pds",
        "notes": list(routed.notes),
    }
    if pharmacy is not None:
        payload["nominated_pharmacy"] = {"ods_code": pharmacy.ods_code, "name": pharmacy.name}
    recommendation.payload = payload
    recommendation.practice_ods = routed.ods_code
    recommendation.updated_at = now
    delivery.practice_ods = routed.ods_code
    _readdress(uow, recommendation, routed.ods_code, now=now)
    detail = f"routed to {_label(routed)}, the practice PDS registers the service user with"
    if routed.notes:
        detail += " (" + "; ".join(routed.notes) + ")"
    if routed.corrected or routed.notes:
        # Said on the timeline when it is news: a correction, a successor, a new number.
        # Otherwise `routing` in the API shows where it went.
        uow.recommendations.add_event(
            StatusEvent(
                recommendation_id=recommendation.id,
                status=recommendation.status,
                detail=detail,
                source=SOURCE,
                applied=True,
                at=now,
            )
        )
    if routed.corrected:
        record_event(uow, recommendation, event, now=now)
    _check(uow, delivery, "corrected" if routed.corrected else "routed", given, detail, now)


def _label(routed: Routed) -> str:
    name = routed.practice.name if routed.practice else None
    return f"{name} ({routed.ods_code})" if name else routed.ods_code


def _readdress(
    uow: UnitOfWorkPort, recommendation: Recommendation, ods: str, *, now: datetime
) -> None:
    """Rebuild the resources addressed to `ods` (ids derive from the recommendation's)."""
    facts = facts_from_payload(
        recommendation.payload,
        recommendation_id=recommendation.id,
        authored_on=recommendation.created_at,
        gp_ods_code=ods,
        respond_by=chase_deadline(uow, ods, recommendation.created_at),
    )
    rebuilt = build_resources(facts, imported=uow.catalogue_codes.imported())
    existing = {r.id: r for r in uow.recommendations.resources_for(recommendation.id)}
    for body in rebuilt.all():
        row = existing.get(body["id"])
        if row is None:
            uow.recommendations.add_resource(
                FhirResource(
                    id=body["id"],
                    resource_type=body["resourceType"],
                    recommendation_id=recommendation.id,
                    body=body,
                    last_updated=now,
                )
            )
        elif row.body != body:
            row.body, row.version_id, row.last_updated = body, row.version_id + 1, now


def apply_stop(uow: UnitOfWorkPort, delivery: Delivery, stopped: Stopped, *, now: datetime) -> None:
    apply_status(
        uow,
        StatusChange(
            delivery.recommendation_id, stopped.status, source=SOURCE, detail=stopped.reason
        ),
        now=now,
    )
    # Not "dead": nothing may replay it to a guessed practice.
    delivery_states.move(delivery, DeliveryMove.STOP)
    delivery.next_attempt_at, delivery.lease_until = None, None
    delivery.last_error = stopped.reason
    recommendation = uow.recommendations.get(delivery.recommendation_id)
    given = given_practice(recommendation.payload) if recommendation else None
    _check(uow, delivery, "stopped", given, stopped.reason, now)


def defer(
    uow: UnitOfWorkPort, delivery: Delivery, reason: str, *, retry_at: datetime, now: datetime
) -> None:
    """PDS or ODS could not answer: wait and ask again; never route by a guess."""
    delivery_states.move(delivery, DeliveryMove.DEFER)
    delivery.next_attempt_at, delivery.lease_until = retry_at, None
    delivery.last_error = f"waiting for the registered practice: {reason}"
    _check(uow, delivery, "waiting", None, reason, now)


def _check(
    uow: UnitOfWorkPort,
    delivery: Delivery,
    outcome: str,
    given: str | None,
    detail: str | None,
    now: datetime,
) -> None:
    uow.registrations.add(
        RegistrationCheck(
            recommendation_id=delivery.recommendation_id,
            delivery_id=delivery.id,
            outcome=outcome,
            given_ods=given,
            practice_ods=delivery.practice_ods,
            detail=detail,
            checked_at=now,
        )
    )


def routing_view(payload: dict[str, Any]) -> dict[str, Any] | None:
    """What the API shows of the routing decision (no personal data)."""
    routing = payload.get("routing")
    return dict(routing) if isinstance(routing, dict) else None
