"""Deliver one recommendation to its GP practice: claim, send, record the attempt.

The claim and the outcome are two short transactions around the network call, so no
database transaction is held open while a GP system is slow.
"""

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited
from adapters.gp_registry import sends_documents
from adapters.gp_system import Delivery as OutgoingDelivery
from fhir_profiles.builders import build_transaction_bundle
from gateway import metrics
from gateway.domain import delivery_states
from gateway.domain.delivery_states import CLAIMABLE, DeliveryMove, DeliveryState
from gateway.domain.retry_policy import Retry, after_failure
from gateway.services import withdrawals
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.models import Delivery, DeliveryAttempt
from gateway.store.unit_of_work import UnitOfWork
from workers import send_document, withdrawing
from workers.attempt_errors import failure_of, stored_error
from workers.practice_gate import claim_delivery, record_outcome
from workers.resolving import ensure_routed
from workers.runtime import PracticeEndpoint, Runtime


def _now() -> datetime:
    return datetime.now(UTC)


def _prepare(
    rt: Runtime, delivery_id: str, now: datetime
) -> tuple[OutgoingDelivery, PracticeEndpoint, int] | str | None:
    with UnitOfWork(rt.session_factory) as uow:
        lease = timedelta(seconds=rt.settings.delivery.lease_seconds)
        delivery = uow.deliveries.get(delivery_id)
        if delivery is None:
            return None
        held = _held_for_withdrawal(uow, delivery, now=now)
        if held is not None:
            return held
        # Per-practice isolation: a practice that is failing, busy or over its rate limit
        # gets this delivery deferred, not a worker held waiting for it.
        gated = claim_delivery(uow, rt.settings, delivery_id, delivery.practice_ods, now=now)
        if gated.outcome == "deferred":
            uow.commit()
            return "deferred"
        if gated.outcome == "skipped":
            return None
        # Read again once claimed: its attempt count, and where it goes now.
        uow.session.refresh(delivery)
        if delivery.practice_ods is None:
            # Not routed (PDS was switched off while it waited): it needs a person.
            delivery_states.move(delivery, DeliveryMove.RELEASE)
            delivery.lease_until = None
            delivery.next_attempt_at = now + lease
            delivery.last_error = "no practice to send to: PDS is not configured"
            uow.commit()
            return "unrouted"
        # The row the gate locked (`gated` holds it): no second read.
        practice = uow.practices.get(delivery.practice_ods)
        assert practice is not None
        if withdrawing.is_withdrawal(delivery):
            outgoing = withdrawing.outgoing(uow, delivery)
        else:
            # The GP system sees the original delivery's id on every retry and replay.
            external_id = delivery.external_id or delivery.id
            outgoing = OutgoingDelivery(
                delivery_id=external_id,
                recommendation_id=delivery.recommendation_id,
                ods_code=delivery.practice_ods,
                bundle=build_transaction_bundle(
                    withdrawing.resource_set(uow, delivery.recommendation_id),
                    delivery_id=external_id,
                ),
            )
        endpoint = PracticeEndpoint.of(practice)
        if sends_documents(endpoint.adapter):
            # GP Connect Send Document: the letter's envelope, made now; the message id is
            # kept before sending, so a response that comes back at once finds its delivery.
            envelope = send_document.for_delivery(uow, rt.settings, delivery, now=now)
            delivery.message_id = envelope.message_id
            outgoing = replace(outgoing, document=envelope)
        attempt_number = delivery.attempt_count
        uow.commit()
    return outgoing, endpoint, attempt_number


def _held_for_withdrawal(uow: UnitOfWork, delivery: Delivery, *, now: datetime) -> str | None:
    """A request that was withdrawn while it waited is stopped, never sent. A withdrawal
    never overtakes its request: while the request is mid-attempt, the withdrawal waits for
    the attempt's lease. Neither makes an attempt or spends retry budget."""
    if delivery.state not in CLAIMABLE:
        return None
    if not withdrawing.is_withdrawal(delivery):
        if not withdrawals.request_withdrawn(uow, delivery):
            return None
        delivery_states.move(delivery, DeliveryMove.STOP)
        delivery.next_attempt_at = None
        delivery.last_error = "stopped before it was sent: the request was withdrawn"
        uow.commit()
        return "stopped"
    until = withdrawals.request_is_sending(uow, delivery, now=now)
    if until is None:
        return None
    delivery_states.move(delivery, DeliveryMove.DEFER)
    delivery.next_attempt_at = until
    uow.commit()
    return "deferred"


def deliver(rt: Runtime, delivery_id: str) -> str:
    """Make one attempt at a delivery. Returns the outcome (for logs and tests)."""
    # The registered practice first (PDS, ODS): it may reroute, stop or defer the delivery.
    # A withdrawal goes where its request went, whatever PDS says now (ensure_routed).
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
    return (
        DeliveryState.RETRYING
        if not isinstance(error, PermanentAdapterError)
        else DeliveryState.DEAD
    )


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
        delivery.last_error = error_text
        if error is None:
            _on_success(uow, delivery, remote_reference, in_transit=in_transit, now=finished)
        else:
            _on_failure(rt, uow, delivery, endpoint, attempt_number, started, finished, error)
        uow.commit()
    metrics.record_attempt(endpoint.adapter, error)


def _on_success(
    uow: UnitOfWork,
    delivery: Delivery,
    remote_reference: str | None,
    *,
    in_transit: bool,
    now: datetime,
) -> None:
    # A late outcome (the lease ran out mid-attempt) is still what the GP system said; one
    # that finds the delivery finished elsewhere changes no state.
    delivery_states.move(delivery, DeliveryMove.SUCCEED)
    delivery.delivered_at = now
    delivery.remote_reference = remote_reference
    delivery.last_error = None
    delivery.next_attempt_at = None
    if withdrawing.is_withdrawal(delivery):
        found = remote_reference is not None
        withdrawing.on_success(uow, delivery, in_transit=in_transit, found=found, now=now)
    elif in_transit:
        # Store-and-forward (MESH): "delivered" waits for the practice's ITK3 business
        # response saying its workflow filed the document (gateway.services.itk_responses).
        delivery.remote_status = "accepted"
    else:
        apply_status(
            uow,
            StatusChange(delivery.recommendation_id, "delivered", source="delivery"),
            now=now,
        )


def _on_failure(
    rt: Runtime,
    uow: UnitOfWork,
    delivery: Delivery,
    endpoint: PracticeEndpoint,
    attempt_number: int,
    started: datetime,
    finished: datetime,
    error: AdapterError,
) -> None:
    """Retry within the budget, or dead-letter: a dead request fails the recommendation, a
    dead withdrawal leaves it cancelled and says so on its timeline."""
    error_text = delivery.last_error
    then = after_failure(
        rt.delivery_retry_policy(endpoint.adapter),
        attempt_number,
        failure_of(error),
        finished,
        first_attempt_at=delivery.first_attempt_at or started,
        draw=random.random(),
    )
    if isinstance(then, Retry):
        delivery_states.move(delivery, DeliveryMove.RETRY)
        delivery.next_attempt_at = then.at
        return
    delivery_states.move(delivery, DeliveryMove.GIVE_UP)
    delivery.next_attempt_at = None
    why = then.reason or "the practice system refused it"
    if withdrawing.is_withdrawal(delivery):
        withdrawing.on_dead(uow, delivery, f"{why}: {error_text}", now=finished)
        return
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
