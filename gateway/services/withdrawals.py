"""Use case: when a request no longer stands, tell the practice that has it.

A cancelled recommendation, one superseded by its re-opening, and one whose service user
re-registered elsewhere all leave a request at a practice. Each request that reached (or
may have reached) a practice gets one withdrawal delivery, sent through the route that
carried it (workers.withdrawing); a request that never left Liaison is stopped instead, so
nothing is sent about a request that no longer stands. One withdrawal per request: a second
cancel, a retry or a replay never makes a second one. The caller commits, except after
`cancel`, which commits when it cancels (the API's one call, in a transaction of its own).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from adapters.gp_system import DeliveryPurpose
from gateway.domain import delivery_states
from gateway.domain.delivery_states import DeliveryMove, DeliveryState
from gateway.services.status_updates import StatusChange, apply_status, record_event
from gateway.store.models import Delivery, StatusEvent
from gateway.store.ports import UnitOfWorkPort

REQUEST: Final = DeliveryPurpose.REQUEST.value
WITHDRAWAL: Final = DeliveryPurpose.WITHDRAWAL.value
# A request delivery stopped before it was sent because the request no longer stands.
STOPPED: Final = DeliveryState.STOPPED
# States in which a request delivery may still be sent (or sent again) by a worker.
_SENDABLE: Final = frozenset(delivery_states.WAITING)

CANCELLED_REASON: Final = "Cancelled by the practitioner"
REOPENED_REASON: Final = "Replaced by a new request from the practitioner"
REREGISTERED_REASON: Final = "The service user is now registered with another practice"


@dataclass(frozen=True)
class WithdrawalPlan:
    withdrawals: list[str]  # new withdrawal delivery ids, queued
    stopped: list[str]  # request deliveries stopped before they were sent


def cancel(uow: UnitOfWorkPort, recommendation_id: str, *, reason: str, now: datetime) -> bool:
    """The practitioner cancels: the status moves to `cancelled` (the reason on Liaison's
    own Task) and the practice that has the request is told. Commits when it cancels; False,
    and nothing committed, if the lifecycle refuses it. Cancelling what is already cancelled
    is not this function's to repeat."""
    applied = apply_status(
        uow,
        StatusChange(recommendation_id, "cancelled", source="practitioner", detail=reason),
        now=now,
    )
    if applied:
        withdraw(uow, recommendation_id, reason=reason, now=now)
        uow.commit()
    return applied


def _requests(deliveries: Sequence[Delivery]) -> dict[str, list[Delivery]]:
    """Request deliveries grouped by what the practice sees (a replay keeps its original's
    external id: to the practice it is the same request)."""
    groups: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        if delivery.purpose == REQUEST:
            groups.setdefault(delivery.external_id or delivery.id, []).append(delivery)
    return groups


def _may_have_arrived(group: Sequence[Delivery]) -> bool:
    # Any attempt may have landed (a timeout after the server stored it), so a request
    # that was ever tried is withdrawn, not assumed absent.
    return any(d.state == DeliveryState.DELIVERED or d.attempt_count > 0 for d in group)


def note(uow: UnitOfWorkPort, recommendation_id: str, detail: str, *, now: datetime) -> None:
    recommendation = uow.recommendations.get(recommendation_id)
    assert recommendation is not None
    uow.recommendations.add_event(
        StatusEvent(
            recommendation_id=recommendation_id,
            status=recommendation.status,
            detail=detail,
            source="withdrawal",
            applied=True,
            at=now,
        )
    )


def withdraw(
    uow: UnitOfWorkPort,
    recommendation_id: str,
    *,
    reason: str,
    now: datetime,
    practice_ods: str | None = None,
) -> WithdrawalPlan:
    """Withdraw the recommendation's requests (only those at `practice_ods` when given)."""
    plan = WithdrawalPlan(withdrawals=[], stopped=[])
    deliveries = uow.deliveries.for_recommendation(recommendation_id)
    already = {d.withdraws_id for d in deliveries if d.purpose == WITHDRAWAL}
    for external_id, group in _requests(deliveries).items():
        if practice_ods is not None and all(d.practice_ods != practice_ods for d in group):
            continue
        for delivery in group:
            if delivery.state in _SENDABLE and delivery.state != DeliveryState.IN_FLIGHT:
                # Never sent again: the request it carries no longer stands.
                delivery_states.move(delivery, DeliveryMove.STOP)
                delivery.next_attempt_at = None
                delivery.last_error = "stopped before it was sent: the request was withdrawn"
                plan.stopped.append(delivery.id)
            elif delivery.state == DeliveryState.DEAD:
                # Nothing to replay any more: the withdrawal is what the practice needs now.
                delivery_states.move(delivery, DeliveryMove.STOP)
                delivery.last_error = f"withdrawn after it failed: {delivery.last_error or ''}"
                plan.stopped.append(delivery.id)
        if not _may_have_arrived(group):
            continue
        withdrawn = _latest(group)
        if {d.id for d in group} & already or withdrawn.practice_ods is None:
            continue
        withdrawal = Delivery(
            id=str(uuid.uuid4()),
            recommendation_id=recommendation_id,
            practice_ods=withdrawn.practice_ods,
            purpose=WITHDRAWAL,
            withdrawal_reason=reason,
            withdraws_id=withdrawn.id,
            state=delivery_states.MACHINE.initial.value,
            attempt_count=0,
            created_at=now,
            updated_at=now,
        )
        # Stable across retries and replays, as every delivery's is.
        withdrawal.external_id = withdrawal.id
        uow.deliveries.add(withdrawal)
        uow.outbox.add(kind="deliver", ref_id=withdrawal.id)
        plan.withdrawals.append(withdrawal.id)
        note(
            uow,
            recommendation_id,
            f"withdrawal queued for the practice {withdrawal.practice_ods} "
            f"(request {external_id}): {reason}",
            now=now,
        )
    return plan


def _latest(group: Sequence[Delivery]) -> Delivery:
    delivered = [d for d in group if d.state == DeliveryState.DELIVERED]
    return (delivered or list(group))[-1]


def request_is_sending(
    uow: UnitOfWorkPort, withdrawal: Delivery, *, now: datetime
) -> datetime | None:
    """When the request a withdrawal withdraws is in the middle of an attempt, the time its
    lease ends: the withdrawal waits until then, so it never overtakes the request."""
    withdrawn = uow.deliveries.get(withdrawal.withdraws_id) if withdrawal.withdraws_id else None
    if withdrawn is None:
        return None
    external_id = withdrawn.external_id or withdrawn.id
    for delivery in uow.deliveries.for_recommendation(withdrawal.recommendation_id):
        if (
            delivery.purpose == REQUEST
            and (delivery.external_id or delivery.id) == external_id
            and delivery.state == DeliveryState.IN_FLIGHT
            and delivery.lease_until is not None
            and _aware(delivery.lease_until) > now
        ):
            return _aware(delivery.lease_until)
    return None


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def request_withdrawn(uow: UnitOfWorkPort, delivery: Delivery) -> bool:
    """Whether a request delivery's request no longer stands at its practice: the
    recommendation was cancelled, or a withdrawal of this request exists."""
    recommendation = uow.recommendations.get(delivery.recommendation_id)
    if recommendation is not None and recommendation.status == "cancelled":
        return True
    deliveries = uow.deliveries.for_recommendation(delivery.recommendation_id)
    by_id = {d.id: d for d in deliveries}
    external_id = delivery.external_id or delivery.id
    for withdrawal in deliveries:
        withdrawn = by_id.get(withdrawal.withdraws_id or "")
        if (
            withdrawal.purpose == WITHDRAWAL
            and withdrawn is not None
            and (withdrawn.external_id or withdrawn.id) == external_id
        ):
            return True
    return False


def withdrawn_at(uow: UnitOfWorkPort, recommendation_id: str, practice_ods: str) -> Delivery | None:
    """The withdrawal sent (or being sent) to `practice_ods` for this recommendation."""
    found = [
        d
        for d in uow.deliveries.for_recommendation(recommendation_id)
        if d.purpose == WITHDRAWAL and d.practice_ods == practice_ods
    ]
    return found[-1] if found else None


def record_sent(
    uow: UnitOfWorkPort, withdrawal: Delivery, *, acknowledged: bool, found: bool, now: datetime
) -> None:
    """The timeline after a withdrawal went: sent, and acknowledged where the route says so
    at once (FHIR REST answers with the updated resources; the inbox is Liaison's own)."""
    practice = withdrawal.practice_ods
    note(uow, withdrawal.recommendation_id, f"withdrawal sent to the practice {practice}", now=now)
    if not acknowledged:
        return
    detail = f"withdrawal acknowledged by the practice {practice}"
    if not found:
        detail += ": it held no copy of the request, so there was nothing to cancel"
    note(uow, withdrawal.recommendation_id, detail, now=now)


def record_acknowledged(uow: UnitOfWorkPort, withdrawal: Delivery, *, now: datetime) -> None:
    """A store-and-forward route (MESH) says the practice's system has the withdrawal."""
    note(
        uow,
        withdrawal.recommendation_id,
        f"withdrawal acknowledged by the practice {withdrawal.practice_ods}",
        now=now,
    )


def record_dead(uow: UnitOfWorkPort, withdrawal: Delivery, why: str, *, now: datetime) -> None:
    """The withdrawal's budget is spent: the practice may still show an active request."""
    note(
        uow,
        withdrawal.recommendation_id,
        f"withdrawal could not reach the practice {withdrawal.practice_ods} ({why}); "
        "the practice may still act on the request: telephone it, or replay the withdrawal",
        now=now,
    )
    recommendation = uow.recommendations.get(withdrawal.recommendation_id)
    assert recommendation is not None
    record_event(uow, recommendation, "withdrawal-failed", now=now)
