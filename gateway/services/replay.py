"""Use cases: replay a dead-lettered delivery, one or many.

A replay is a new delivery linked to its original (`replay_of`) that keeps the original's
external id, so the GP system's conditional create makes a request that did arrive before
the failure come out once. The original stays, marked `replayed`: nothing is pruned.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.domain import delivery_states
from gateway.domain.delivery_states import DeliveryMove, DeliveryState
from gateway.domain.errors import ErrorKind, LiaisonError
from gateway.services import withdrawals
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.models import Delivery, ReplayBatch
from gateway.store.ports import UnitOfWorkPort
from gateway.store.repositories.deliveries import DeliveryCriteria

REPLAYABLE = delivery_states.MACHINE.sources_of(DeliveryMove.REPLAY)


class NotReplayable(LiaisonError):
    """The delivery cannot be replayed: not there (kind not-found), or not dead (conflict)."""


@dataclass(frozen=True)
class ReplayPlan:
    total: int
    per_practice: dict[str, int]


def replay_delivery(
    uow: UnitOfWorkPort, delivery_id: str, *, now: datetime, batch_id: str | None = None
) -> str:
    """Queue a replay of one dead delivery; returns the new delivery's id. Caller commits."""
    original = uow.deliveries.get(delivery_id)
    if original is None:
        raise NotReplayable(f"no delivery {delivery_id}", kind=ErrorKind.NOT_FOUND)
    if original.state not in REPLAYABLE:
        raise NotReplayable(
            f"delivery {delivery_id} is {original.state}; only dead deliveries are replayed"
        )
    if original.purpose == withdrawals.REQUEST and withdrawals.request_withdrawn(uow, original):
        raise NotReplayable(
            f"delivery {delivery_id} carries a request that was withdrawn; it is not sent again"
        )
    delivery_states.move(original, DeliveryMove.REPLAY)
    replay = Delivery(
        id=str(uuid.uuid4()),
        external_id=original.external_id or original.id,
        replay_of=original.id,
        replay_batch_id=batch_id,
        recommendation_id=original.recommendation_id,
        practice_ods=original.practice_ods,
        state=delivery_states.MACHINE.initial.value,
        purpose=original.purpose,
        withdrawal_reason=original.withdrawal_reason,
        withdraws_id=original.withdraws_id,
        created_at=now,
        updated_at=now,
    )
    uow.deliveries.add(replay)
    uow.outbox.add(kind="deliver", ref_id=replay.id)
    if original.purpose == withdrawals.WITHDRAWAL:
        # The recommendation stays cancelled: only the withdrawal goes again.
        withdrawals.note(
            uow, original.recommendation_id, f"withdrawal replayed ({original.id})", now=now
        )
        return replay.id
    apply_status(
        uow,
        StatusChange(
            original.recommendation_id,
            "queued",
            source="replay",
            detail=f"replay of delivery {original.id}",
        ),
        now=now,
    )
    return replay.id


def criteria_from(data: dict[str, Any]) -> DeliveryCriteria:
    before = data.get("created_before")
    return DeliveryCriteria(
        state=DeliveryState.DEAD,
        practice_ods=data.get("practice_ods"),
        recommendation_id=data.get("recommendation_id"),
        error_contains=data.get("error_contains"),
        created_before=datetime.fromisoformat(before) if before else None,
    )


def plan_replay(uow: UnitOfWorkPort, criteria: DeliveryCriteria) -> ReplayPlan:
    """What a bulk replay would touch: shown to the engineer before they confirm."""
    per_practice = uow.delivery_search.per_practice(criteria)
    return ReplayPlan(total=sum(per_practice.values()), per_practice=per_practice)


def start_batch(
    uow: UnitOfWorkPort, *, criteria: dict[str, Any], requested_by: str, now: datetime
) -> ReplayBatch:
    """Record a bulk replay and queue its runner. Caller commits."""
    plan = plan_replay(uow, criteria_from(criteria))
    batch = ReplayBatch(
        id=str(uuid.uuid4()),
        requested_by=requested_by,
        criteria=criteria,
        state="running",
        total=plan.total,
        replayed=0,
        created_at=now,
        updated_at=now,
    )
    uow.replays.add(batch)
    uow.outbox.add(kind="replay-batch", ref_id=batch.id)
    return batch


def run_batch_step(uow: UnitOfWorkPort, batch_id: str, *, now: datetime, size: int = 50) -> bool:
    """Replay the next `size` matching deliveries and commit. Returns whether more remain.
    A cancelled batch stops at the next step; what it already replayed stays replayed."""
    batch = uow.replays.get_for_update(batch_id)
    if batch is None or batch.state != "running":
        return False
    rows, _ = uow.delivery_search.find(criteria_from(batch.criteria), limit=size)
    for row in rows:
        try:
            replay_delivery(uow, row.id, now=now, batch_id=batch.id)
        except NotReplayable as refused:
            # A request withdrawn since it failed: never sent again, and out of the dead list.
            # (A row that is no longer dead keeps its state: the move is refused.)
            if not delivery_states.move(row, DeliveryMove.STOP).refused:
                row.last_error = str(refused)
    batch.replayed += len(rows)
    batch.updated_at = now
    more = len(rows) == size
    if not more:
        batch.state = "finished"
    uow.commit()
    return more


def cancel_batch(uow: UnitOfWorkPort, batch_id: str, *, now: datetime) -> ReplayBatch | None:
    batch = uow.replays.get_for_update(batch_id)
    if batch is None:
        return None
    if batch.state == "running":
        batch.state = "cancelled"
        batch.updated_at = now
    uow.commit()
    return batch
