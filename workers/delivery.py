"""Deliver one recommendation to its GP practice: claim, send, record the attempt.

The claim and the outcome are two short transactions around the network call, so no
database transaction is held open while a GP system is slow.
"""

import random
from datetime import UTC, datetime, timedelta

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited
from adapters.gp_system import Delivery as OutgoingDelivery
from fhir_profiles.builders import ResourceSet, build_transaction_bundle
from gateway import metrics
from gateway.domain.retry_policy import next_attempt
from gateway.domain.status_updates import StatusChange, apply_status
from gateway.store.models import DeliveryAttempt
from gateway.store.unit_of_work import UnitOfWork
from workers.attempt_errors import stored_error
from workers.practice_gate import admit_delivery, record_outcome
from workers.resolving import ensure_routed
from workers.runtime import PracticeEndpoint, Runtime


def _now() -> datetime:
    return datetime.now(UTC)


def _prepare(
    rt: Runtime, delivery_id: str, now: datetime
) -> tuple[OutgoingDelivery, PracticeEndpoint, int] | str | None:
    with UnitOfWork(rt.session_factory) as uow:
        lease = timedelta(seconds=rt.settings.delivery_lease_seconds)
        # Per-practice isolation: a practice that is failing, busy or over its rate limit
        # gets this delivery deferred, not a worker held waiting for it.
        if not admit_delivery(uow, rt.settings, delivery_id, now=now):
            uow.commit()
            return "deferred"
        if not uow.deliveries.claim(delivery_id, now=now, lease=lease):
            return None
        delivery = uow.deliveries.get(delivery_id)
        assert delivery is not None
        if delivery.practice_ods is None:
            # Not routed (PDS was switched off while it waited): it needs a person.
            delivery.state, delivery.lease_until = "retrying", None
            delivery.next_attempt_at = now + lease
            delivery.last_error = "no practice to send to: PDS is not configured"
            uow.commit()
            return "unrouted"
        practice = uow.practices.get(delivery.practice_ods)
        assert practice is not None
        by_type = {
            r.resource_type: r.body
            for r in uow.recommendations.resources_for(delivery.recommendation_id)
        }
        resources = ResourceSet(
            medication_request=by_type["MedicationRequest"],
            communication_request=by_type["CommunicationRequest"],
            task=by_type["Task"],
            # The clinical-safety flag the MedicationRequest points at travels with it.
            detected_issue=by_type.get("DetectedIssue"),
            # The service user and practitioner the requests refer to (absent only from
            # recommendations stored before they were built, whose requests contain them).
            patient=by_type.get("Patient"),
            practitioner=by_type.get("Practitioner"),
            practitioner_role=by_type.get("PractitionerRole"),
        )
        # The GP system sees the original delivery's id on every retry and replay.
        external_id = delivery.external_id or delivery.id
        outgoing = OutgoingDelivery(
            delivery_id=external_id,
            recommendation_id=delivery.recommendation_id,
            ods_code=delivery.practice_ods,
            bundle=build_transaction_bundle(resources, delivery_id=external_id),
        )
        endpoint = PracticeEndpoint.of(practice)
        attempt_number = delivery.attempt_count
        uow.commit()
    return outgoing, endpoint, attempt_number


def deliver(rt: Runtime, delivery_id: str) -> str:
    """Make one attempt at a delivery. Returns the outcome (for logs and tests)."""
    # The registered practice first (PDS, ODS): it may reroute, stop or defer the delivery.
    held = ensure_routed(rt, delivery_id)
    if held is not None:
        return held
    prepared = _prepare(rt, delivery_id, _now())
    if prepared is None or isinstance(prepared, str):
        return prepared or "skipped"
    outgoing, endpoint, attempt_number = prepared
    started = _now()
    error: AdapterError | None = None
    remote_reference: str | None = None
    in_transit = False
    try:
        receipt = rt.gp_system_for(endpoint).submit(outgoing)
        remote_reference = receipt.remote_reference
        in_transit = receipt.in_transit
    except AdapterError as exc:
        error = exc
    finished = _now()
    _record(
        rt,
        delivery_id,
        endpoint,
        attempt_number,
        started,
        finished,
        error,
        remote_reference,
        in_transit=in_transit,
    )
    if error is None:
        return "delivered"
    return "retrying" if not isinstance(error, PermanentAdapterError) else "dead"


def _record(
    rt: Runtime,
    delivery_id: str,
    endpoint: PracticeEndpoint,
    attempt_number: int,
    started: datetime,
    finished: datetime,
    error: AdapterError | None,
    remote_reference: str | None,
    *,
    in_transit: bool = False,
) -> None:
    with UnitOfWork(rt.session_factory) as uow:
        delivery = uow.deliveries.get(delivery_id)
        assert delivery is not None
        # GP systems echo the patient's details in their diagnostics: kept without them.
        error_text = stored_error(uow, delivery.recommendation_id, error)
        record_outcome(
            uow, rt.settings, endpoint.ods_code, error, now=finished, error_text=error_text
        )
        outcome = "success"
        if isinstance(error, PermanentAdapterError):
            outcome = "permanent"
        elif isinstance(error, RateLimited):
            outcome = "rate-limited"
        elif error is not None:
            outcome = "transient"
        uow.deliveries.add_attempt(
            DeliveryAttempt(
                delivery_id=delivery.id,
                number=attempt_number,
                adapter=endpoint.adapter,
                started_at=started,
                finished_at=finished,
                outcome=outcome,
                status_code=error.status_code if error else None,
                error=error_text,
            )
        )
        delivery.lease_until = None
        if error is None:
            delivery.state = "delivered"
            delivery.delivered_at = finished
            delivery.remote_reference = remote_reference
            delivery.last_error = None
            delivery.next_attempt_at = None
            if in_transit:
                # Store-and-forward (MESH): "delivered" waits for the practice's acknowledgement.
                delivery.remote_status = "accepted"
            else:
                apply_status(
                    uow,
                    StatusChange(delivery.recommendation_id, "delivered", source="delivery"),
                    now=finished,
                )
        else:
            delivery.last_error = error_text
            decision = None
            if not isinstance(error, PermanentAdapterError):
                decision = next_attempt(
                    rt.delivery_retry_policy(endpoint.adapter),
                    attempt=attempt_number,
                    first_attempt_at=delivery.first_attempt_at or started,
                    now=finished,
                    draw=random.random(),
                    retry_after=error.retry_after if isinstance(error, RateLimited) else None,
                )
            if decision is not None and decision.retry:
                delivery.state = "retrying"
                delivery.next_attempt_at = decision.next_attempt_at
            else:
                delivery.state = "dead"
                delivery.next_attempt_at = None
                why = decision.reason if decision else "the practice system refused it"
                apply_status(
                    uow,
                    StatusChange(
                        delivery.recommendation_id,
                        "delivery-failed",
                        source="delivery",
                        detail=f"{why}: {error_text}",
                    ),
                    now=finished,
                )
        uow.commit()
    metrics.record_attempt(endpoint.adapter, error)
