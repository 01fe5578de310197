"""GET /ops/practices/{ods}/stats: how long a practice takes from delivery to a prescription
ready to collect, so practitioners and engineers can see which practices need a talk. The
work is gateway.services.practice_overview, shared with the console's practices page."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.dependencies import OpsClient, UnitOfWorkDep
from gateway.services import practice_overview
from gateway.services.practice_overview import PracticeStats

router = APIRouter(prefix="/ops/practices", tags=["ops"])


@router.get("/{ods_code}/stats", response_model=PracticeStats)
def practice_stats(
    ods_code: str,
    uow: UnitOfWorkDep,
    principal: OpsClient,
    days: Annotated[int, Query(ge=1, le=3650, description="look-back window in days")] = 90,
) -> PracticeStats:
    """Median and 90th percentile time from delivered to ready-to-collect (ids and counts
    only, no patient data)."""
    return practice_overview.practice_stats(uow, ods_code, days=days, now=datetime.now(UTC))
