"""Chase-up policy: a practice that has not acted after N working days is reminded, and again
every M working days after that, until it acts or the limit is reached. Pure rules.

Working days skip weekends and the bank holidays of England and Wales (the `holidays`
package's, tabled in gateway.domain.bank_holidays). N comes from the practice directory
(`chase_after_days`, default 3).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from gateway.domain.audience import UK
from gateway.domain.bank_holidays import is_bank_holiday

# Only a practice that has the request and has said nothing is chased.
CHASED_STATUS: Final = "delivered"


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day)


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


def still_worth_sending(status: str) -> bool:
    """A chase-up stops the moment the practice acts (or the request is withdrawn)."""
    return status == CHASED_STATUS
