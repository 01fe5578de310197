"""/ops: what integration engineers watch and do. Ids only, never patient identifiers."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from gateway.api.dependencies import OpsClient, SettingsDep, UnitOfWorkDep
from gateway.api.links import public_request_url
from gateway.api.text_rules import in_utc
from gateway.domain import delivery_states, replay
from gateway.domain.delivery_states import DeliveryState
from gateway.queue_depth import queue_depths
from gateway.store.models import Delivery
from gateway.store.repositories.deliveries import DeliveryCriteria

router = APIRouter(prefix="/ops", tags=["ops"])

# The words engineers filter by, mapped to stored delivery states.
# "stopped": PDS or ODS left no one to send it to (never replayed to a guess), or the request
# was withdrawn before it was sent.
STATES = tuple(DeliveryState)


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


def _delivery_out(d: Delivery) -> DeliveryOut:
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


@router.get("/deliveries", response_model=DeliveryPage)
def list_deliveries(
    request: Request,
    uow: UnitOfWorkDep,
    principal: OpsClient,
    state: Annotated[str | None, Query(description=f"one of {', '.join(STATES)}")] = None,
    practice: Annotated[str | None, Query(max_length=10)] = None,
    recommendation_id: Annotated[str | None, Query(max_length=36)] = None,
    error: Annotated[
        str | None, Query(max_length=200, description="text in the last error")
    ] = None,
    older_than_seconds: Annotated[int | None, Query(ge=0, le=10 * 365 * 24 * 3600)] = None,
    purpose: Annotated[
        Literal["request", "withdrawal"] | None,
        Query(description="the request itself, or its withdrawal"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DeliveryPage:
    if state is not None and state not in STATES:
        raise HTTPException(422, f"state: unknown state {state!r}; one of {', '.join(STATES)}")
    criteria = DeliveryCriteria(
        state=state,
        practice_ods=practice,
        recommendation_id=recommendation_id,
        error_contains=error,
        created_before=(
            datetime.now(UTC) - timedelta(seconds=older_than_seconds)
            if older_than_seconds is not None
            else None
        ),
        purpose=purpose,
    )
    rows, total = uow.delivery_search.find(criteria, limit=limit, offset=offset)
    next_url = None
    if offset + limit < total:
        next_url = str(
            public_request_url(request).include_query_params(offset=offset + limit, limit=limit)
        )
    return DeliveryPage(
        items=[_delivery_out(d) for d in rows],
        total=total,
        limit=limit,
        offset=offset,
        next=next_url,
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(delivery_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> DeliveryDetail:
    delivery = uow.deliveries.get(delivery_id)
    if delivery is None:
        raise HTTPException(404, f"no delivery {delivery_id}")
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
    return DeliveryDetail(
        **_delivery_out(delivery).model_dump(), attempts=attempts, replays=replays
    )


@router.post("/deliveries/{delivery_id}/replay", status_code=202, response_model=ReplayOut)
def replay_one(delivery_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> ReplayOut:
    try:
        new_id = replay.replay_delivery(uow, delivery_id, now=datetime.now(UTC))
    except replay.NotReplayable as exc:
        status = 404 if str(exc).startswith("no delivery") else 409
        raise HTTPException(status, str(exc)) from exc
    uow.commit()
    return ReplayOut(original=delivery_id, replay=new_id)


@router.post("/replays", status_code=202, response_model=ReplayBatchOut)
def replay_many(
    criteria: ReplayCriteria, uow: UnitOfWorkDep, principal: OpsClient
) -> ReplayBatchOut:
    """Replay every dead delivery matching the criteria, in batches; `dry_run` shows how many
    and which practices first."""
    data: dict[str, Any] = criteria.model_dump(mode="json", exclude={"dry_run"}, exclude_none=True)
    plan = replay.plan_replay(uow, replay.criteria_from(data))
    if criteria.dry_run:
        return ReplayBatchOut(
            id=None, state="planned", total=plan.total, replayed=0, per_practice=plan.per_practice
        )
    batch = replay.start_batch(
        uow, criteria=data, requested_by=principal.client_id, now=datetime.now(UTC)
    )
    uow.commit()
    return ReplayBatchOut(
        id=batch.id,
        state=batch.state,
        total=batch.total,
        replayed=0,
        per_practice=plan.per_practice,
    )


@router.get("/replays/{batch_id}", response_model=ReplayBatchOut)
def replay_progress(batch_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> ReplayBatchOut:
    batch = uow.replays.get(batch_id)
    if batch is None:
        raise HTTPException(404, f"no replay batch {batch_id}")
    return ReplayBatchOut(
        id=batch.id, state=batch.state, total=batch.total, replayed=batch.replayed
    )


@router.post("/replays/{batch_id}/cancel", response_model=ReplayBatchOut)
def cancel_replay(batch_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> ReplayBatchOut:
    batch = replay.cancel_batch(uow, batch_id, now=datetime.now(UTC))
    if batch is None:
        raise HTTPException(404, f"no replay batch {batch_id}")
    return ReplayBatchOut(
        id=batch.id, state=batch.state, total=batch.total, replayed=batch.replayed
    )


class PracticeQueue(BaseModel):
    practice_ods: str
    counts: dict[str, int]
    oldest_pending_seconds: float | None


class QueuesOut(BaseModel):
    counts: dict[str, int]
    practices: list[PracticeQueue]
    outbox_lag_seconds: float
    broker: dict[str, int | None]


WAITING = delivery_states.WAITING


@router.get("/queues", response_model=QueuesOut)
def queues(uow: UnitOfWorkDep, settings: SettingsDep, principal: OpsClient) -> QueuesOut:
    now = datetime.now(UTC)
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
        broker=queue_depths(settings.broker_url),
    )
