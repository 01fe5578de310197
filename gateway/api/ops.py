"""/ops: what integration engineers watch. Ids only, never patient identifiers."""

from datetime import UTC, datetime

from fastapi import APIRouter

from gateway.api.dependencies import OpsClient, UnitOfWorkDep

router = APIRouter(prefix="/ops", tags=["ops"])


@router.get("/queues")
def queues(uow: UnitOfWorkDep, principal: OpsClient) -> dict[str, object]:
    oldest = uow.outbox.oldest_unpublished_at()
    lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    return {"deliveries": uow.deliveries.count_by_state(), "outbox_lag_seconds": round(lag, 3)}
