"""How each practice is doing, the same for /ops/practices (JSON) and the console's practices
page (HTML): its directory entry with its circuit breaker and deliveries in flight, and how
long it takes from delivered to ready to collect. Ids and counts only, never patient data.

Every function takes a unit of work and refuses with gateway.domain.errors, which each edge
turns into its answer. The console's page for every practice is a fixed number of grouped
statements (one per measure, GROUP BY practice), not a few per practice: its cost does not
grow with the directory.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from gateway.domain.delivery_states import WAITING, DeliveryState
from gateway.domain.errors import NotFound
from gateway.practice_directory import STORED, PracticeSettings, settings_of, source_of
from gateway.services.practice_access import breaker_of
from gateway.store.models import Practice
from gateway.store.ports import InFlightPort, PracticeOverviewPort

# The practice holds the request and has not yet issued a prescription.
AWAITING_DECISION = ("delivered", "accepted")


class BreakerView(BaseModel):
    state: str  # closed | open | half-open
    consecutive_failures: int
    opened_at: datetime | None
    last_error: str | None


class PracticeHealth(BaseModel):
    breaker: BreakerView
    deliveries_in_flight: int
    last_polled_at: datetime | None


class PracticeView(PracticeSettings):
    ods_code: str
    source: str  # yaml | api | cli | dev: where the entry was last written from
    health: PracticeHealth


class PracticeList(BaseModel):
    practices: list[PracticeView]


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


@dataclass(frozen=True)
class PracticeRow:
    """One practice as the console lists it: its entry, its statistics and its queue."""

    view: PracticeView
    last_success: datetime | None
    waiting: int
    dead: int
    stats: PracticeStats


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


def _view(practice: Practice, in_flight: int) -> PracticeView:
    breaker = breaker_of(practice)
    health = PracticeHealth(
        breaker=BreakerView(
            state=breaker.state,
            consecutive_failures=breaker.failures,
            opened_at=breaker.opened_at,
            last_error=practice.breaker_last_error if breaker.failures else None,
        ),
        deliveries_in_flight=in_flight,
        last_polled_at=practice.last_polled_at,
    )
    return PracticeView.model_validate(
        {
            **settings_of(practice).model_dump(),
            "ods_code": practice.ods_code,
            "source": source_of(practice),
            "health": health,
        },
        context=STORED,
    )


def _stats(
    code: str, days: int, durations: list[float], *, awaiting: int, chase_ups: int
) -> PracticeStats:
    median, p90 = percentile(durations, 0.5), percentile(durations, 0.9)
    return PracticeStats(
        ods_code=code,
        window_days=days,
        ready=len(durations),
        median_seconds=None if median is None else round(median, 3),
        p90_seconds=None if p90 is None else round(p90, 3),
        median_hours=_hours(median),
        p90_hours=_hours(p90),
        awaiting_practice=awaiting,
        chase_ups_sent=chase_ups,
    )


def list_practices(uow: PracticeOverviewPort, *, now: datetime) -> PracticeList:
    """Every practice in the directory with its health, in ODS code order."""
    in_flight = uow.gp_links.in_flight(now=now)
    return PracticeList(
        practices=[_view(p, in_flight.get(p.ods_code, 0)) for p in uow.practices.list()]
    )


def view_of(uow: InFlightPort, practice: Practice, *, now: datetime) -> PracticeView:
    in_flight = uow.gp_links.in_flight(now=now, practice_ods=practice.ods_code)
    return _view(practice, in_flight.get(practice.ods_code, 0))


def practice_view(uow: PracticeOverviewPort, ods_code: str, *, now: datetime) -> PracticeView:
    practice = uow.practices.get(ods_code)
    if practice is None:
        raise NotFound(f"no practice {ods_code} in the directory")
    return view_of(uow, practice, now=now)


def practice_stats(
    uow: PracticeOverviewPort, ods_code: str, *, days: int, now: datetime
) -> PracticeStats:
    """Median and 90th percentile time from delivered to ready to collect over the last
    `days`, what still waits on the practice and the chase-ups it needed."""
    code = ods_code.strip().upper()
    if uow.practices.get(code) is None:
        detail = f"no GP practice {code} in the practice directory"
        # Titled with its detail, as this answer has been since the route first gave it.
        raise NotFound(detail, title=detail)
    since = now - timedelta(days=days)
    durations = uow.follow_ups.delivered_to_ready(since=since, practice_ods=code)
    awaiting = uow.follow_ups.awaiting(AWAITING_DECISION, practice_ods=code)
    chase_ups = uow.follow_ups.chase_ups_sent(since=since, practice_ods=code)
    return _stats(
        code,
        days,
        durations.get(code, []),
        awaiting=awaiting.get(code, 0),
        chase_ups=chase_ups.get(code, 0),
    )


def overview(uow: PracticeOverviewPort, *, days: int, now: datetime) -> list[PracticeRow]:
    """Every practice with its health, its statistics over the last `days`, when it last
    took a delivery and how many wait or are dead: seven statements, however many practices."""
    since = now - timedelta(days=days)
    listed = list_practices(uow, now=now).practices
    durations = uow.follow_ups.delivered_to_ready(since=since)
    awaiting = uow.follow_ups.awaiting(AWAITING_DECISION)
    chase_ups = uow.follow_ups.chase_ups_sent(since=since)
    last_success = uow.practice_health.last_success()
    waiting: dict[str, int] = {}
    dead: dict[str, int] = {}
    for ods, state, count, _ in uow.delivery_search.counts():
        if state in WAITING:
            waiting[ods] = waiting.get(ods, 0) + count
        elif state == DeliveryState.DEAD:
            dead[ods] = count
    return [
        PracticeRow(
            view=view,
            last_success=last_success.get(view.ods_code),
            waiting=waiting.get(view.ods_code, 0),
            dead=dead.get(view.ods_code, 0),
            stats=_stats(
                view.ods_code,
                days,
                durations.get(view.ods_code, []),
                awaiting=awaiting.get(view.ods_code, 0),
                chase_ups=chase_ups.get(view.ods_code, 0),
            ),
        )
        for view in listed
    ]
