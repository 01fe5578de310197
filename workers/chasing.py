"""Chase practices that have not acted, and remind service users who have not collected.

`chase_due` (beat) plans the chase-ups that have fallen due and hands out the ones waiting
to be sent; `send_chase_up` sends one through the practice's own adapter as a new
CommunicationRequest referencing the original. Claim, send, record: like a delivery, the
network call sits between two short transactions, and a transient failure waits in the
database (`next_attempt_at`) with the same backoff and budget.
"""

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from adapters.errors import AdapterError
from adapters.gp_registry import sends_documents
from adapters.gp_system import Delivery as OutgoingDelivery
from fhir_profiles.builders import build_chase_up, build_transaction_bundle, resource_set_of
from gateway.domain import chase_up_states
from gateway.domain.audience import UK
from gateway.domain.chase_policy import ChasePolicy, WorkingDays, still_worth_sending
from gateway.domain.chase_up_states import ChaseUpMove
from gateway.domain.delivery_states import DeliveryState
from gateway.domain.retry_policy import Retry, after_failure
from gateway.services import withdrawals
from gateway.services.chase_ups import mark_sent, plan_chase_ups
from gateway.services.practice_access import open_gate
from gateway.services.reminders import ReminderPolicy, send_due_reminders
from gateway.settings import Settings
from gateway.store.models import ChaseUp
from gateway.store.unit_of_work import UnitOfWork
from workers import send_document, withdrawing
from workers.attempt_errors import failure_of, stored_error
from workers.practice_gate import breaker_policy, record_outcome
from workers.re_registration import follow_before_chase
from workers.runtime import PracticeEndpoint, Runtime


def _now() -> datetime:
    return datetime.now(UTC)


def chase_policy(settings: Settings) -> ChasePolicy:
    return ChasePolicy(
        again_after_days=settings.chasing.again_after_days,
        limit=settings.chasing.limit,
        calendar=WorkingDays(settings.development.working_day_seconds),
    )


def chase_due(rt: Runtime, publish: Callable[[str], None], *, batch: int = 500) -> int:
    """Plan due chase-ups and publish every one waiting to be sent (new, retry due, or
    abandoned by a dead worker). Returns how many were published."""
    now = _now()
    with UnitOfWork(rt.session_factory) as uow:
        plan_chase_ups(uow, now=now, policy=chase_policy(rt.settings), batch=batch)
        due = uow.follow_ups.chase_ups_due(now=now, limit=batch)
        uow.commit()
    for chase_up_id in due:
        publish(chase_up_id)
    return len(due)


def _prepare(
    rt: Runtime, chase_up_id: str, now: datetime
) -> tuple[OutgoingDelivery, PracticeEndpoint] | str:
    lease = timedelta(seconds=rt.settings.delivery.lease_seconds)
    with UnitOfWork(rt.session_factory) as uow:
        if not uow.follow_ups.claim_chase_up(chase_up_id, now=now, lease=lease):
            return "skipped"
        chase_up = uow.follow_ups.get_chase_up(chase_up_id)
        assert chase_up is not None
        rec = uow.recommendations.get(chase_up.recommendation_id)
        practice = uow.practices.get(chase_up.practice_ods)
        assert rec is not None
        assert practice is not None
        if not still_worth_sending(rec.status):
            chase_up_states.move(chase_up, ChaseUpMove.STOP)
            chase_up.lease_until = None
            chase_up.last_error = f"the practice acted first ({rec.status})"
            uow.commit()
            return "stopped"
        # The practice's circuit breaker and rate limit apply to chase-ups as to deliveries:
        # a failing practice is not hammered, and no worker waits on it.
        gate = open_gate(
            uow,
            practice.ods_code,
            now=now,
            policy=breaker_policy(rt.settings),
            in_flight_limit=None,
        )
        if not gate.allowed:
            chase_up_states.move(chase_up, ChaseUpMove.DEFER)
            chase_up.lease_until = None
            chase_up.next_attempt_at = gate.retry_at or now + timedelta(seconds=5)
            chase_up.last_error = gate.reason
            uow.commit()
            return "pending"
        stored = resource_set_of([r.body for r in uow.recommendations.resources_for(rec.id)])
        base = f"{rt.settings.api.public_base_url.rstrip('/')}/fhir"
        original = stored.communication_request
        # The first medicine's request: the one the Task focuses on (combination NRT has more).
        medication_request = stored.medication_request
        delivered_at = uow.recommendations.last_event_at(rec.id, "delivered") or now
        request = build_chase_up(
            chase_up_id=chase_up.id,
            number=chase_up.number,
            original=original,
            original_url=f"{base}/CommunicationRequest/{original['id']}",
            medication_request_url=f"{base}/MedicationRequest/{medication_request['id']}",
            authored_on=now,
            first_sent_on=delivered_at.astimezone(UK).date(),
            working_days=_working_days_waited(rt.settings, practice.chase_after_days, chase_up),
        )
        chase_up.resource = request.resource
        outgoing = OutgoingDelivery(
            delivery_id=chase_up.id,
            recommendation_id=rec.id,
            ods_code=practice.ods_code,
            bundle=request.bundle,
        )
        endpoint = PracticeEndpoint.of(practice)
        if sends_documents(endpoint.adapter):
            outgoing = _as_document(rt, uow, outgoing, chase_up, now=now)
        uow.commit()
    return outgoing, endpoint


def _as_document(
    rt: Runtime, uow: UnitOfWork, outgoing: OutgoingDelivery, chase_up: ChaseUp, *, now: datetime
) -> OutgoingDelivery:
    """Over MESH a chase-up is the next version of the request's letter (Send Document)."""
    requests = [
        d
        for d in uow.deliveries.for_recommendation(chase_up.recommendation_id)
        if d.purpose == withdrawals.REQUEST and d.state == DeliveryState.DELIVERED
    ]
    request_id = (requests[-1].external_id or requests[-1].id) if requests else chase_up.id
    bundle = build_transaction_bundle(
        withdrawing.resource_set(uow, chase_up.recommendation_id), delivery_id=request_id
    )
    envelope = send_document.for_chase_up(uow, rt.settings, chase_up, now=now)
    # Kept before sending, so a response that comes back at once finds its chase-up.
    chase_up.message_id = envelope.message_id
    return replace(outgoing, document=envelope, document_bundle=bundle)


def _working_days_waited(settings: Settings, chase_after_days: int, chase_up: ChaseUp) -> int:
    return chase_after_days + (chase_up.number - 1) * settings.chasing.again_after_days


def send_chase_up(rt: Runtime, chase_up_id: str) -> str:
    """Returns sent | stopped | pending (will retry) | failed | skipped | moved."""
    # A service user who re-registered is followed to the new practice (PDS, again).
    moved = follow_before_chase(rt, chase_up_id)
    if moved is not None:
        return moved
    prepared = _prepare(rt, chase_up_id, _now())
    if isinstance(prepared, str):
        return prepared
    outgoing, endpoint = prepared
    error: AdapterError | None = None
    remote_reference: str | None = None
    try:
        receipt = rt.gp_system_for(endpoint).submit(outgoing)
        remote_reference = receipt.remote_reference
    except AdapterError as exc:
        error = exc
    with UnitOfWork(rt.session_factory) as uow:
        chase_up = uow.follow_ups.get_chase_up(chase_up_id)
        assert chase_up is not None
        now = _now()
        error_text = stored_error(uow, chase_up.recommendation_id, error)
        record_outcome(
            uow, rt.settings, chase_up.practice_ods, error, now=now, error_text=error_text
        )
        if error is None:
            mark_sent(uow, chase_up, now=now, remote_reference=remote_reference)
        else:
            then = after_failure(
                rt.retry_policy,
                chase_up.attempt_count,
                failure_of(error),
                now,
                first_attempt_at=chase_up.first_attempt_at or now,
                draw=random.random(),
            )
            chase_up.lease_until, chase_up.last_error = None, error_text
            if isinstance(then, Retry):
                chase_up_states.move(chase_up, ChaseUpMove.RETRY)
                chase_up.next_attempt_at = then.at
            else:
                chase_up_states.move(chase_up, ChaseUpMove.GIVE_UP)
        uow.commit()
        return chase_up.state


def remind_collections(rt: Runtime) -> int:
    """Raise the collection reminders that have fallen due; the notify tasks send them."""
    policy = ReminderPolicy(
        every=timedelta(seconds=rt.settings.collection.reminder_after_seconds),
        limit=rt.settings.collection.reminder_limit,
    )
    with UnitOfWork(rt.session_factory) as uow:
        raised = send_due_reminders(uow, now=_now(), policy=policy)
        uow.commit()
    return raised
