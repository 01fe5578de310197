"""Chase-ups: a practice that has not acted after N working days is reminded, and again
every M working days after that, until it acts or the limit is reached.

Working days skip weekends and the bank holidays of England and Wales (the `holidays`
package). N comes from the practice directory (`chase_after_days`, default 3).
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import holidays

from gateway.domain import chase_up_states
from gateway.domain.audience import UK
from gateway.domain.chase_up_states import ChaseUpMove
from gateway.domain.events import ChaseUpEvent
from gateway.domain.status_updates import record_event
from gateway.store.models import ChaseUp
from gateway.store.unit_of_work import UnitOfWork

# England and Wales share their bank holidays; Scotland and Northern Ireland do not.
_BANK_HOLIDAYS: Final = holidays.country_holidays("GB", subdiv="ENG")

# Only a practice that has the request and has said nothing is chased.
CHASED_STATUS: Final = "delivered"


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _BANK_HOLIDAYS


@dataclass(frozen=True)
class WorkingDays:
    """Adds working days to an instant, keeping its UK wall-clock time.

    `day_seconds` compresses a working day to that many seconds with no calendar at all:
    it exists so end-to-end tests can watch chase-ups happen in seconds.
    """

    day_seconds: float | None = None

    def add(self, start: datetime, days: int) -> datetime:
        if self.day_seconds is not None:
            return start + timedelta(seconds=self.day_seconds * days)
        local = start.astimezone(UK)
        day = local.date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if is_working_day(day):
                counted += 1
        return datetime.combine(day, local.time(), tzinfo=UK)


@dataclass(frozen=True)
class ChasePolicy:
    again_after_days: int = 2  # M: working days between one chase-up and the next
    limit: int = 3  # chase-ups per recommendation at most
    calendar: WorkingDays = WorkingDays()


@dataclass(frozen=True)
class NextChase:
    number: int
    due_at: datetime


def next_chase(
    *,
    delivered_at: datetime,
    chase_after_days: int,
    chased: int,
    last_chased_at: datetime | None,
    policy: ChasePolicy,
) -> NextChase | None:
    """The next chase-up for a request the practice has not acted on, or None if there is
    none to plan (limit reached, or the previous chase-up has not gone yet)."""
    if chased >= policy.limit:
        return None
    if chased == 0:
        return NextChase(1, policy.calendar.add(delivered_at, chase_after_days))
    if last_chased_at is None:
        return None
    return NextChase(chased + 1, policy.calendar.add(last_chased_at, policy.again_after_days))


def plan_chase_ups(
    uow: UnitOfWork, *, now: datetime, policy: ChasePolicy, batch: int = 500
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


def still_worth_sending(status: str) -> bool:
    """A chase-up stops the moment the practice acts (or the request is withdrawn)."""
    return status == CHASED_STATUS


def mark_sent(
    uow: UnitOfWork, chase_up: ChaseUp, *, now: datetime, remote_reference: str | None
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
