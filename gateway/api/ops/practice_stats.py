"""GET /ops/practices/{ods}/stats: how long a practice takes from delivery to a prescription
ready to collect, so practitioners and engineers can see which practices need a talk."""

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from gateway.api.dependencies import OpsClient, UnitOfWorkDep

router = APIRouter(prefix="/ops/practices", tags=["ops"])

# The practice holds the request and has not yet issued a prescription.
AWAITING_DECISION = ("delivered", "accepted")


class PracticeStats(BaseModel):
    ods_code: str
    window_days: int
    # Recommendations that became ready to collect within the window.
    ready: int
    median_seconds: float | None
    p90_seconds: float | None
    median_hours: float | None
    p90_hours: float | None
    # Still waiting on the practice now, and chase-ups it needed within the window.
    awaiting_practice: int
    chase_ups_sent: int


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


@router.get("/{ods_code}/stats", response_model=PracticeStats)
def practice_stats(
    ods_code: str,
    uow: UnitOfWorkDep,
    principal: OpsClient,
    days: Annotated[int, Query(ge=1, le=3650, description="look-back window in days")] = 90,
) -> PracticeStats:
    """Median and 90th percentile time from delivered to ready-to-collect (ids and counts
    only, no patient data)."""
    code = ods_code.strip().upper()
    if uow.practices.get(code) is None:
        raise HTTPException(404, f"no GP practice {code} in the practice directory")
    since = datetime.now(UTC) - timedelta(days=days)
    durations = uow.follow_ups.delivered_to_ready(code, since=since)
    median, p90 = percentile(durations, 0.5), percentile(durations, 0.9)
    return PracticeStats(
        ods_code=code,
        window_days=days,
        ready=len(durations),
        median_seconds=None if median is None else round(median, 3),
        p90_seconds=None if p90 is None else round(p90, 3),
        median_hours=_hours(median),
        p90_hours=_hours(p90),
        awaiting_practice=uow.follow_ups.count_awaiting(code, AWAITING_DECISION),
        chase_ups_sent=uow.follow_ups.count_chase_ups(code, since=since),
    )
