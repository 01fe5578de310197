"""Use case: apply a status change through the lifecycle and queue who must hear of it.

Polls, signed callbacks, the practice inbox, delivery outcomes and cancellations all come
through `apply_status`; chase-ups, reminders and safety flags raise their events through
`record_event`. The caller commits.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from gateway import metrics
from gateway.domain.audience import NamedPerson, addressees
from gateway.domain.lifecycle import decide
from gateway.domain.notification_states import first_state
from gateway.domain.state_machine import Verdict
from gateway.services import fulfilment_tracking
from gateway.store.models import Notification, Recommendation, StatusEvent
from gateway.store.ports import UnitOfWorkPort


@dataclass(frozen=True)
class StatusChange:
    recommendation_id: str
    status: str
    source: str  # intake | relay | delivery | poll | callback | inbox | practitioner
    detail: str | None = None
    pharmacy: str | None = None
    prescription_id: str | None = None  # the pharmacy's prescription order number, if told


def apply_status(uow: UnitOfWorkPort, change: StatusChange, *, now: datetime) -> bool:
    """Apply `change` if the lifecycle allows it. Refused changes are recorded, not applied.
    Returns whether it was applied."""
    recommendation = uow.recommendations.get_for_update(change.recommendation_id)
    if recommendation is None:
        return False
    decision = decide(recommendation.status, change.status)
    if not decision.applied:
        if decision.verdict is Verdict.REFUSED:  # a repeat of the current status is not news
            uow.recommendations.add_event(
                StatusEvent(
                    recommendation_id=recommendation.id,
                    status=change.status,
                    detail=decision.reason,
                    source=change.source,
                    applied=False,
                    at=now,
                )
            )
        return False
    recommendation.status = change.status
    recommendation.updated_at = now
    if change.pharmacy:
        recommendation.payload = {**recommendation.payload, "pharmacy": change.pharmacy}
    if change.prescription_id:
        recommendation.payload = {
            **recommendation.payload,
            "prescription_id": change.prescription_id,
        }
    uow.recommendations.add_event(
        StatusEvent(
            recommendation_id=recommendation.id,
            status=change.status,
            detail=change.detail,
            source=change.source,
            applied=True,
            at=now,
        )
    )
    # The stored Task and MedicationRequest move in the same transaction as the status.
    fulfilment_tracking.track(
        uow,
        recommendation,
        change.status,
        now=now,
        detail=change.detail,
        pharmacy=change.pharmacy,
    )
    metrics.record_status(change.status, since_intake=recommendation.created_at, at=now)
    assert decision.event is not None
    record_event(uow, recommendation, decision.event, now=now)
    return True


def record_event(
    uow: UnitOfWorkPort,
    recommendation: Recommendation,
    event: str,
    *,
    now: datetime,
    named_person: NamedPerson | None = None,
) -> list[Notification]:
    """Queue one notification per recipient of `event`. The unique (recommendation, event,
    recipient, member) constraint makes a repeat a no-op, so an event reaches each recipient at
    most once however often it is raised. Returns the rows created. `named_person`: the
    person a reminder plan names for copies (gateway.domain.reminder_schedule)."""
    subscribed = uow.engagement.webhook(recommendation.organisation_ods) is not None
    created: list[Notification] = []
    listed = addressees(
        event, recommendation.payload, webhook=subscribed, named_person=named_person
    )
    for addressee in listed:
        notification = Notification(
            id=str(uuid.uuid4()),
            recommendation_id=recommendation.id,
            event=event,
            recipient=addressee.recipient,
            member=addressee.member,
            channel=addressee.channel,
            status=first_state(reachable=not addressee.suppressed_reason).value,
            error=addressee.suppressed_reason,
            created_at=now,
        )
        if uow.notifications.add_once(notification):
            created.append(notification)
            if not addressee.suppressed_reason:
                uow.outbox.add(kind="notify", ref_id=notification.id)
    return created
