"""What integration engineers see and do with deliveries, the same for /ops (JSON), the
console (HTML) and the CLI: find deliveries, read one with every attempt, replay one or
many, watch and cancel a bulk replay, and the queue overview. Ids only, never patient
identifiers. Each function takes a unit of work, commits what it changes, and refuses with
gateway.domain.errors (not found, conflict, invalid), which each edge turns into its answer.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from gateway.domain import delivery_states
from gateway.domain.delivery_states import DeliveryState
from gateway.domain.errors import Invalid, NotFound
from gateway.domain.instants import in_utc
from gateway.queue_depth import queue_depths
from gateway.services import replay
from gateway.store.models import Delivery, ReplayBatch
from gateway.store.ports import UnitOfWorkPort
from gateway.store.repositories.deliveries import DeliveryCriteria

# The words engineers filter by, the stored delivery states.
# "stopped": PDS or ODS left no one to send it to (never replayed to a guess), or the request
# was withdrawn before it was sent.
STATES = tuple(DeliveryState)
WAITING = delivery_states.WAITING
MAX_AGE_SECONDS = 10 * 365 * 24 * 3600


class DeliveryOut(BaseModel):
    id: str
    recommendation_id: str
    # None while the worker waits for PDS to name the registered practice.
    practice_ods: str | None
    state: str
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    replay_of: str | None
    external_id: str | None
    # request | withdrawal: a withdrawal tells the practice the request `withdraws` no
    # longer stands.
    purpose: str = "request"
    withdraws: str | None = None


class AttemptOut(BaseModel):
    number: int
    adapter: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    status_code: int | None
    error: str | None


class DeliveryDetail(DeliveryOut):
    attempts: list[AttemptOut]
    replays: list[str]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int
    next: str | None


class ReplayCriteria(BaseModel):
    model_config = ConfigDict(extra="forbid")

    practice_ods: Annotated[str, Field(max_length=10)] | None = None
    recommendation_id: Annotated[str, Field(max_length=36)] | None = None
    error_contains: Annotated[str, Field(max_length=200)] | None = None
    # With its time zone: a bare local time would be read as UTC or as the server's zone.
    created_before: Annotated[AwareDatetime, AfterValidator(in_utc)] | None = None
    dry_run: bool = Field(default=False, description="only report what would be replayed")


class ReplayBatchOut(BaseModel):
    id: str | None
    state: str
    total: int
    replayed: int
    per_practice: dict[str, int] = {}


class ReplayOut(BaseModel):
    original: str
    replay: str


class PracticeQueue(BaseModel):
    practice_ods: str
    counts: dict[str, int]
    oldest_pending_seconds: float | None


class QueuesOut(BaseModel):
    counts: dict[str, int]
    practices: list[PracticeQueue]
    outbox_lag_seconds: float
    broker: dict[str, int | None]


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        recommendation_id=d.recommendation_id,
        practice_ods=d.practice_ods,
        state=d.state,
        attempt_count=d.attempt_count,
        next_attempt_at=d.next_attempt_at,
        last_error=d.last_error,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
        replay_of=d.replay_of,
        external_id=d.external_id,
        purpose=d.purpose,
        withdraws=d.withdraws_id,
    )


def search_criteria(
    *,
    now: datetime,
    state: str | None = None,
    practice: str | None = None,
    recommendation_id: str | None = None,
    error: str | None = None,
    older_than_seconds: int | None = None,
    purpose: str | None = None,
) -> DeliveryCriteria:
    """The filters an engineer gave, as the search; an unknown state is refused by name."""
    if state is not None and state not in STATES:
        raise Invalid(f"state: unknown state {state!r}; one of {', '.join(STATES)}")
    before = now - timedelta(seconds=older_than_seconds) if older_than_seconds is not None else None
    return DeliveryCriteria(
        state=state,
        practice_ods=practice,
        recommendation_id=recommendation_id,
        error_contains=error,
        created_before=before,
        purpose=purpose,
    )


def find_deliveries(
    uow: UnitOfWorkPort, criteria: DeliveryCriteria, *, limit: int, offset: int
) -> DeliveryPage:
    """One page of the matching deliveries; `next` is left for the edge to link."""
    rows, total = uow.delivery_search.find(criteria, limit=limit, offset=offset)
    return DeliveryPage(
        items=[delivery_out(d) for d in rows], total=total, limit=limit, offset=offset, next=None
    )


def delivery_detail(uow: UnitOfWorkPort, delivery_id: str) -> DeliveryDetail:
    delivery = uow.deliveries.get(delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    attempts = [
        AttemptOut(
            number=a.number,
            adapter=a.adapter,
            started_at=a.started_at,
            finished_at=a.finished_at,
            outcome=a.outcome,
            status_code=a.status_code,
            error=a.error,
        )
        for a in uow.deliveries.attempts(delivery_id)
    ]
    replays = [r.id for r in uow.delivery_search.replays_of(delivery_id)]
    return DeliveryDetail(**delivery_out(delivery).model_dump(), attempts=attempts, replays=replays)


def replay_one(uow: UnitOfWorkPort, delivery_id: str, *, now: datetime) -> ReplayOut:
    """Replay one dead delivery (replay.NotReplayable: not found, or not dead)."""
    new_id = replay.replay_delivery(uow, delivery_id, now=now)
    uow.commit()
    return ReplayOut(original=delivery_id, replay=new_id)


def replay_many(
    uow: UnitOfWorkPort, criteria: ReplayCriteria, *, requested_by: str, now: datetime
) -> ReplayBatchOut:
    """Replay every dead delivery matching the criteria, in batches; `dry_run` shows how many
    and which practices first."""
    data: dict[str, Any] = criteria.model_dump(mode="json", exclude={"dry_run"}, exclude_none=True)
    plan = replay.plan_replay(uow, replay.criteria_from(data))
    if criteria.dry_run:
        return ReplayBatchOut(
            id=None, state="planned", total=plan.total, replayed=0, per_practice=plan.per_practice
        )
    batch = replay.start_batch(uow, criteria=data, requested_by=requested_by, now=now)
    uow.commit()
    return ReplayBatchOut(
        id=batch.id,
        state=batch.state,
        total=batch.total,
        replayed=0,
        per_practice=plan.per_practice,
    )


def _batch_out(batch: ReplayBatch) -> ReplayBatchOut:
    return ReplayBatchOut(
        id=batch.id, state=batch.state, total=batch.total, replayed=batch.replayed
    )


def replay_progress(uow: UnitOfWorkPort, batch_id: str) -> ReplayBatchOut:
    batch = uow.replays.get(batch_id)
    if batch is None:
        raise NotFound(f"no replay batch {batch_id}")
    return _batch_out(batch)


def cancel_replay(uow: UnitOfWorkPort, batch_id: str, *, now: datetime) -> ReplayBatchOut:
    batch = replay.cancel_batch(uow, batch_id, now=now)
    if batch is None:
        raise NotFound(f"no replay batch {batch_id}")
    return _batch_out(batch)


def queue_overview(uow: UnitOfWorkPort, *, broker_url: str, now: datetime) -> QueuesOut:
    """Counts by state, per practice with its oldest waiting delivery, the outbox's lag and
    the broker's queue depths."""
    totals: dict[str, int] = dict.fromkeys((*WAITING, DeliveryState.DEAD), 0)
    per_practice: dict[str, PracticeQueue] = {}
    for ods, state, count, oldest in uow.delivery_search.counts():
        totals[state] = totals.get(state, 0) + count
        row = per_practice.setdefault(
            ods, PracticeQueue(practice_ods=ods, counts={}, oldest_pending_seconds=None)
        )
        row.counts[state] = count
        if state in WAITING and oldest is not None:
            age = (now - oldest).total_seconds()
            row.oldest_pending_seconds = max(row.oldest_pending_seconds or 0.0, age)
    oldest_unpublished = uow.outbox.oldest_unpublished_at()
    lag = (now - oldest_unpublished).total_seconds() if oldest_unpublished else 0.0
    return QueuesOut(
        counts=totals,
        practices=sorted(per_practice.values(), key=lambda p: p.practice_ods),
        outbox_lag_seconds=round(lag, 3),
        broker=queue_depths(broker_url),
    )
