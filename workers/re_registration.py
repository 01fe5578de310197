"""Before each chase-up, look at PDS again: a service user who has re-registered is followed
to the new practice (gateway.domain.registration decides; gateway.services.routing records).

The chase-up to the old practice is stopped, a new delivery takes the request to the new one,
and the timeline and the practitioner say so. If PDS cannot answer, or says something that
nothing has changed, the chase-up goes to the practice the request is with: a failed
re-check never holds a reminder back, and never guesses a practice. If there is no practice
to chase any more (closed with no successor, the patient has died), the chase-up is stopped
and the practitioner told why.
"""

import uuid
from datetime import UTC, date, datetime

from adapters.errors import AdapterError
from gateway import metrics
from gateway.correlation import current_correlation_id
from gateway.domain import chase_up_states, delivery_states
from gateway.domain.chase_up_states import ChaseUpMove, ChaseUpState
from gateway.domain.events import ChaseUpEvent
from gateway.domain.registration import Routed, Stopped, route
from gateway.services import withdrawals
from gateway.services.routing import apply_route
from gateway.services.status_updates import record_event
from gateway.store.models import Delivery, StatusEvent
from gateway.store.unit_of_work import UnitOfWork
from workers import resolving
from workers.runtime import Runtime


def follow_before_chase(rt: Runtime, chase_up_id: str) -> str | None:
    """None: chase as planned. "moved": the request now goes to the new practice instead."""
    pds = rt.pds()
    if pds is None:
        return None
    with UnitOfWork(rt.session_factory) as uow:
        chase_up = uow.follow_ups.get_chase_up(chase_up_id)
        if chase_up is None or chase_up.state != ChaseUpState.PENDING:
            return None
        rec = uow.recommendations.get(chase_up.recommendation_id)
        assert rec is not None
        current = chase_up.practice_ods
        user = rec.payload["service_user"]
        nhs_number, birth = str(user["nhs_number"]), user.get("birth_date")
        organisation = rec.organisation_ods
    now = datetime.now(UTC)
    if resolving.breaker().admit(now) is not None:
        return None
    try:
        answer = pds.lookup(
            nhs_number, correlation_id=current_correlation_id(), end_user_ods=organisation
        )
        error: AdapterError | None = None
    except AdapterError as failure:
        error = failure
    resolving.breaker().record(error, datetime.now(UTC))
    metrics.record_lookup("pds", error)
    if error is not None:
        return None
    ods = rt.ods()
    try:
        decision = route(
            resolving.patient_facts(answer),
            given_ods=current,
            given_birth_date=date.fromisoformat(birth) if birth else None,
            lookup=(lambda code: resolving.practice_facts(ods, code)) if ods else None,
            in_directory=lambda code: resolving.in_directory(rt, code),
        )
    except AdapterError:
        return None
    if isinstance(decision, Stopped):
        return _stop(rt, chase_up_id, decision)
    if decision.ods_code == current:
        return None
    return _move(rt, chase_up_id, decision, resolving.pharmacy_of(ods, answer))


def _stop(rt: Runtime, chase_up_id: str, stopped: Stopped) -> str | None:
    """No practice to chase any more (it closed with no successor, the patient died...): a
    closed practice is never sent a new request; the practitioner is told why."""
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        chase_up = uow.follow_ups.get_chase_up(chase_up_id)
        if chase_up is None or chase_up.state != ChaseUpState.PENDING:
            return None
        chase_up_states.move(chase_up, ChaseUpMove.STOP)
        chase_up.lease_until = None
        chase_up.last_error = stopped.reason
        rec = uow.recommendations.get(chase_up.recommendation_id)
        assert rec is not None
        uow.recommendations.add_event(
            StatusEvent(
                recommendation_id=rec.id,
                status=rec.status,
                detail=f"chasing stopped: {stopped.reason}",
                source="registration",
                applied=True,
                at=now,
            )
        )
        record_event(uow, rec, str(ChaseUpEvent.stopped(chase_up.number)), now=now)
        uow.commit()
    return "stopped"


def _move(
    rt: Runtime, chase_up_id: str, routed: Routed, pharmacy: resolving.Pharmacy | None
) -> str | None:
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        chase_up = uow.follow_ups.get_chase_up(chase_up_id)
        if chase_up is None or chase_up.state != ChaseUpState.PENDING:
            return None
        old = chase_up.practice_ods
        chase_up_states.move(chase_up, ChaseUpMove.STOP)
        chase_up.lease_until = None
        chase_up.last_error = f"the service user re-registered at {routed.ods_code}"
        delivery = Delivery(
            id=str(uuid.uuid4()),
            recommendation_id=chase_up.recommendation_id,
            practice_ods=routed.ods_code,
            state=delivery_states.MACHINE.initial.value,
            created_at=now,
            updated_at=now,
        )
        delivery.external_id = delivery.id
        uow.deliveries.add(delivery)
        uow.session.flush()
        apply_route(
            uow,
            delivery,
            routed,
            current_nhs_number=None,
            pharmacy=pharmacy,
            now=now,
            event="re-registered",
        )
        # The old practice is told, through the route that carried the request, that it no
        # longer stands there (gateway.services.withdrawals).
        withdrawals.withdraw(
            uow,
            chase_up.recommendation_id,
            reason=withdrawals.REREGISTERED_REASON,
            now=now,
            practice_ods=old,
        )
        rec = uow.recommendations.get(chase_up.recommendation_id)
        assert rec is not None
        uow.recommendations.add_event(
            StatusEvent(
                recommendation_id=rec.id,
                status=rec.status,
                detail=f"the request at {old} is superseded: the service user re-registered",
                source="registration",
                applied=True,
                at=now,
            )
        )
        uow.outbox.add(kind="deliver", ref_id=delivery.id)
        uow.commit()
    return "moved"
