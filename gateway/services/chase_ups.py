"""Chase-ups: plan the ones that have fallen due, and record one the practice has. The rules
(working days, the limit, what is still worth sending) are in gateway.domain.chase_policy.

The caller commits.
"""

import uuid
from datetime import datetime

from gateway.domain import chase_up_states
from gateway.domain.chase_policy import CHASED_STATUS, ChasePolicy, next_chase
from gateway.domain.chase_up_states import ChaseUpMove
from gateway.domain.events import ChaseUpEvent
from gateway.services.status_updates import record_event
from gateway.store.models import ChaseUp
from gateway.store.ports import UnitOfWorkPort


def plan_chase_ups(
    uow: UnitOfWorkPort, *, now: datetime, policy: ChasePolicy, batch: int = 500
) -> list[str]:
    """Create the chase-ups that have fallen due. Returns their ids; the caller commits."""
    created: list[str] = []
    for waiting in uow.follow_ups.awaiting_practice(status=CHASED_STATUS, limit=batch):
        planned = next_chase(
            delivered_at=waiting.delivered_at,
            chase_after_days=waiting.chase_after_days,
            chased=waiting.chase_ups,
            last_chased_at=waiting.last_chased_at,
            policy=policy,
        )
        if planned is None or planned.due_at > now:
            continue
        chase_up = ChaseUp(
            id=str(uuid.uuid4()),
            recommendation_id=waiting.recommendation_id,
            practice_ods=waiting.practice_ods,
            number=planned.number,
            state=chase_up_states.MACHINE.initial.value,
            attempt_count=0,
            created_at=now,
        )
        if uow.follow_ups.add_chase_up(chase_up):
            created.append(chase_up.id)
    return created


def mark_sent(
    uow: UnitOfWorkPort, chase_up: ChaseUp, *, now: datetime, remote_reference: str | None
) -> None:
    """Record that the practice has the chase-up, and tell the practitioner."""
    chase_up_states.move(chase_up, ChaseUpMove.SUCCEED)
    chase_up.sent_at = now
    chase_up.remote_reference = remote_reference
    chase_up.lease_until = None
    chase_up.next_attempt_at = None
    chase_up.last_error = None
    recommendation = uow.recommendations.get(chase_up.recommendation_id)
    assert recommendation is not None
    record_event(uow, recommendation, str(ChaseUpEvent.sent(chase_up.number)), now=now)
