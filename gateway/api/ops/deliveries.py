"""/ops: what integration engineers watch and do, as JSON. Ids only, never patient
identifiers. The work is gateway.services.delivery_ops, shared with the console and the CLI;
its refusals become problem+json in gateway.api.problems."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from gateway.api.dependencies import OpsClient, SettingsDep, UnitOfWorkDep
from gateway.api.links import next_page_url
from gateway.services import delivery_ops
from gateway.services.delivery_ops import (
    MAX_AGE_SECONDS,
    STATES,
    DeliveryDetail,
    DeliveryPage,
    QueuesOut,
    ReplayBatchOut,
    ReplayCriteria,
    ReplayOut,
)

router = APIRouter(prefix="/ops", tags=["ops"])


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
    older_than_seconds: Annotated[int | None, Query(ge=0, le=MAX_AGE_SECONDS)] = None,
    purpose: Annotated[
        Literal["request", "withdrawal"] | None,
        Query(description="the request itself, or its withdrawal"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DeliveryPage:
    criteria = delivery_ops.search_criteria(
        now=datetime.now(UTC),
        state=state,
        practice=practice,
        recommendation_id=recommendation_id,
        error=error,
        older_than_seconds=older_than_seconds,
        purpose=purpose,
    )
    page = delivery_ops.find_deliveries(uow, criteria, limit=limit, offset=offset)
    page.next = next_page_url(request, offset=offset, limit=limit, total=page.total)
    return page


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(delivery_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> DeliveryDetail:
    return delivery_ops.delivery_detail(uow, delivery_id)


@router.post("/deliveries/{delivery_id}/replay", status_code=202, response_model=ReplayOut)
def replay_one(delivery_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> ReplayOut:
    return delivery_ops.replay_one(uow, delivery_id, now=datetime.now(UTC))


@router.post("/replays", status_code=202, response_model=ReplayBatchOut)
def replay_many(
    criteria: ReplayCriteria, uow: UnitOfWorkDep, principal: OpsClient
) -> ReplayBatchOut:
    """Replay every dead delivery matching the criteria, in batches; `dry_run` shows how many
    and which practices first."""
    return delivery_ops.replay_many(
        uow, criteria, requested_by=principal.client_id, now=datetime.now(UTC)
    )


@router.get("/replays/{batch_id}", response_model=ReplayBatchOut)
def replay_progress(batch_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> ReplayBatchOut:
    return delivery_ops.replay_progress(uow, batch_id)


@router.post("/replays/{batch_id}/cancel", response_model=ReplayBatchOut)
def cancel_replay(batch_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> ReplayBatchOut:
    return delivery_ops.cancel_replay(uow, batch_id, now=datetime.now(UTC))


@router.get("/queues", response_model=QueuesOut)
def queues(uow: UnitOfWorkDep, settings: SettingsDep, principal: OpsClient) -> QueuesOut:
    return delivery_ops.queue_overview(uow, broker_url=settings.broker.url, now=datetime.now(UTC))
