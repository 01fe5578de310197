"""One leased-job mechanism for every table of work a worker takes: deliveries, chase-ups
and (through `LeaseColumns`, whose names differ) notifications.

A worker claims a job with one conditional UPDATE: due (its retry time has come) or its
previous holder's lease lapsed. Exactly one of two workers handed the same job sees its
row change, so a job is never attempted twice at once; the claim counts the attempt and
remembers when the first one started (the retry budget is measured from it).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, Text, false, func, or_, update
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, mapped_column


class LeasedJob:
    """The lease-and-retry columns a job table shares (an ORM mixin)."""

    state: Mapped[str] = mapped_column(String(16))
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    first_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class LeaseColumns:
    """Where a table keeps its id, state, due time, lease and attempt count."""

    model: type[Any]
    id: InstrumentedAttribute[str]
    state: InstrumentedAttribute[str]
    due_at: InstrumentedAttribute[datetime | None]
    lease_until: InstrumentedAttribute[datetime | None]
    attempt_count: InstrumentedAttribute[int]
    first_attempt_at: InstrumentedAttribute[datetime | None] | None = None

    @classmethod
    def of(cls, model: type[Any]) -> "LeaseColumns":
        """The columns of a model declared with the `LeasedJob` mixin."""
        return cls(
            model=model,
            id=model.id,
            state=model.state,
            due_at=model.next_attempt_at,
            lease_until=model.lease_until,
            attempt_count=model.attempt_count,
            first_attempt_at=model.first_attempt_at,
        )


def claimable(
    columns: LeaseColumns,
    *,
    now: datetime,
    due_states: Sequence[str],
    lapsed_states: Sequence[str] = (),
) -> ColumnElement[bool]:
    """Due in one of `due_states`, or holding a lapsed lease in one of `lapsed_states`."""
    due = columns.state.in_(due_states) & or_(columns.due_at.is_(None), columns.due_at <= now)
    lapsed = (
        columns.state.in_(lapsed_states) & (columns.lease_until <= now)
        if lapsed_states
        else false()
    )
    return or_(due, lapsed)


def claim(
    session: Session,
    columns: LeaseColumns,
    job_id: str,
    *,
    now: datetime,
    lease: timedelta,
    due_states: Sequence[str],
    leased_state: str,
    lapsed_states: Sequence[str] = (),
    only_if: ColumnElement[bool] | None = None,
) -> bool:
    """Take the job for one attempt; False if someone else has it, it is finished, it is
    not due yet, or `only_if` (checked in the same statement) does not hold."""
    values: dict[Any, Any] = {
        columns.state: leased_state,
        columns.lease_until: now + lease,
        columns.attempt_count: columns.attempt_count + 1,
    }
    if columns.first_attempt_at is not None:
        values[columns.first_attempt_at] = func.coalesce(columns.first_attempt_at, now)
    stmt = (
        update(columns.model)
        .where(
            columns.id == job_id,
            claimable(columns, now=now, due_states=due_states, lapsed_states=lapsed_states),
        )
        .values(values)
    )
    if only_if is not None:
        stmt = stmt.where(only_if)
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)
