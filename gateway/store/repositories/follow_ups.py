"""Queries behind following a request up: chase-ups to practices, collection reminders, and
each practice's time from delivered to ready."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import Subquery

from gateway.domain.chase_up_states import MACHINE, ChaseUpMove, ChaseUpState
from gateway.store import leased_jobs
from gateway.store.models import ChaseUp, Practice, Recommendation, StatusEvent

_LEASE = leased_jobs.LeaseColumns.of(ChaseUp)
# A chase-up due now, or one whose sender died mid-attempt (its lease lapsed, still sending).
_LEASED = MACHINE.target_of(ChaseUpMove.CLAIM)
_DUE: Final = tuple(s for s in MACHINE.sources_of(ChaseUpMove.CLAIM) if s != _LEASED)
_LAPSED: Final = (_LEASED,)


@dataclass(frozen=True)
class AwaitingPractice:
    """A recommendation the practice has not acted on, with what chasing needs to know."""

    recommendation_id: str
    practice_ods: str
    chase_after_days: int
    delivered_at: datetime
    chase_ups: int  # how many exist (in any state)
    last_chased_at: datetime | None  # when the latest one was sent; None if not sent yet


@dataclass(frozen=True)
class AwaitingCollection:
    recommendation_id: str
    ready_at: datetime


@dataclass(frozen=True)
class Ended:
    recommendation_id: str
    at: datetime


def _first_applied(status: str) -> Subquery:
    return (
        select(
            StatusEvent.recommendation_id.label("recommendation_id"),
            func.min(StatusEvent.at).label("at"),
        )
        .where(StatusEvent.status == status, StatusEvent.applied.is_(True))
        .group_by(StatusEvent.recommendation_id)
        .subquery()
    )


class FollowUpRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # Chase-ups

    def awaiting_practice(self, *, status: str, limit: int) -> list[AwaitingPractice]:
        delivered = (
            select(
                StatusEvent.recommendation_id.label("rid"),
                func.max(StatusEvent.at).label("at"),
            )
            .where(StatusEvent.status == "delivered", StatusEvent.applied.is_(True))
            .group_by(StatusEvent.recommendation_id)
            .subquery()
        )
        chased = (
            select(
                ChaseUp.recommendation_id.label("rid"),
                func.count().label("n"),
            )
            .group_by(ChaseUp.recommendation_id)
            .subquery()
        )
        stmt = (
            select(
                Recommendation.id,
                Recommendation.practice_ods,
                Practice.chase_after_days,
                delivered.c.at,
                func.coalesce(chased.c.n, 0),
            )
            .join(Practice, Practice.ods_code == Recommendation.practice_ods)
            .join(delivered, delivered.c.rid == Recommendation.id)
            .outerjoin(chased, chased.c.rid == Recommendation.id)
            .where(Recommendation.status == status)
            .order_by(delivered.c.at)
            .limit(limit)
        )
        rows = self._session.execute(stmt).tuples().all()
        last_sent = self._last_sent({rid for rid, *_ in rows})
        return [
            AwaitingPractice(rid, ods, days, at, int(count), last_sent.get(rid))
            for rid, ods, days, at, count in rows
        ]

    def _last_sent(self, recommendation_ids: set[str]) -> dict[str, datetime | None]:
        if not recommendation_ids:
            return {}
        latest = (
            select(ChaseUp.recommendation_id, func.max(ChaseUp.number).label("n"))
            .where(ChaseUp.recommendation_id.in_(recommendation_ids))
            .group_by(ChaseUp.recommendation_id)
            .subquery()
        )
        stmt = select(ChaseUp.recommendation_id, ChaseUp.sent_at).join(
            latest,
            and_(
                latest.c.recommendation_id == ChaseUp.recommendation_id,
                latest.c.n == ChaseUp.number,
            ),
        )
        return {rid: sent for rid, sent in self._session.execute(stmt).tuples()}

    def add_chase_up(self, chase_up: ChaseUp) -> bool:
        """Insert unless this chase-up number exists; two planners racing make one row."""
        savepoint = self._session.begin_nested()
        try:
            self._session.add(chase_up)
            self._session.flush()
        except IntegrityError:
            savepoint.rollback()
            return False
        savepoint.commit()
        return True

    def get_chase_up(self, chase_up_id: str) -> ChaseUp | None:
        return self._session.get(ChaseUp, chase_up_id)

    def chase_ups_for(self, recommendation_id: str) -> Sequence[ChaseUp]:
        stmt = (
            select(ChaseUp)
            .where(ChaseUp.recommendation_id == recommendation_id)
            .order_by(ChaseUp.number)
        )
        return self._session.scalars(stmt).all()

    def claim_chase_up(self, chase_up_id: str, *, now: datetime, lease: timedelta) -> bool:
        return leased_jobs.claim(
            self._session,
            _LEASE,
            chase_up_id,
            now=now,
            lease=lease,
            due_states=_DUE,
            leased_state=_LEASED.value,
            lapsed_states=_LAPSED,
        )

    def chase_ups_due(self, *, now: datetime, limit: int) -> list[str]:
        """Chase-ups waiting to be sent, whose retry time has come, or whose sender died."""
        stmt = (
            select(ChaseUp.id)
            .where(
                leased_jobs.claimable(
                    _LEASE,
                    now=now,
                    due_states=_DUE,
                    lapsed_states=_LAPSED,
                )
            )
            .order_by(ChaseUp.created_at)
            .limit(limit)
        )
        return list(self._session.scalars(stmt))

    def chase_ups_sent(self, *, since: datetime, practice_ods: str | None = None) -> dict[str, int]:
        """Chase-ups sent since `since`, per practice (only `practice_ods`'s, when given)."""
        stmt = select(ChaseUp.practice_ods, func.count()).where(
            ChaseUp.state == ChaseUpState.SENT, ChaseUp.sent_at >= since
        )
        if practice_ods is not None:
            stmt = stmt.where(ChaseUp.practice_ods == practice_ods)
        stmt = stmt.group_by(ChaseUp.practice_ods)
        return {ods: int(n) for ods, n in self._session.execute(stmt).tuples()}

    # Collection reminders

    def awaiting_collection(self, *, limit: int) -> list[AwaitingCollection]:
        ready = (
            select(
                StatusEvent.recommendation_id.label("rid"),
                func.max(StatusEvent.at).label("at"),
            )
            .where(StatusEvent.status == "ready-to-collect", StatusEvent.applied.is_(True))
            .group_by(StatusEvent.recommendation_id)
            .subquery()
        )
        stmt = (
            select(Recommendation.id, ready.c.at)
            .join(ready, ready.c.rid == Recommendation.id)
            .where(Recommendation.status == "ready-to-collect")
            .order_by(ready.c.at)
            .limit(limit)
        )
        return [AwaitingCollection(rid, at) for rid, at in self._session.execute(stmt).tuples()]

    # Re-engagement

    def ended_between(
        self, statuses: Sequence[str], *, after: datetime, before: datetime, limit: int
    ) -> list[Ended]:
        """Recommendations still in one of `statuses` (an ending without a prescription)
        that reached it in [after, before), with when, and never re-opened: the candidates
        for a practitioner's try-again prompt. The window keeps each scan to recent endings."""
        ended = (
            select(
                StatusEvent.recommendation_id.label("rid"),
                func.max(StatusEvent.at).label("at"),
            )
            .where(StatusEvent.status.in_(statuses), StatusEvent.applied.is_(True))
            .group_by(StatusEvent.recommendation_id)
            .subquery()
        )
        later = aliased(Recommendation)
        successor = select(later.id).where(later.predecessor_id == ended.c.rid)
        stmt = (
            select(Recommendation.id, ended.c.at)
            .join(ended, ended.c.rid == Recommendation.id)
            .where(
                Recommendation.status.in_(statuses),
                ended.c.at >= after,
                ended.c.at < before,
                ~successor.exists(),
            )
            .order_by(ended.c.at)
            .limit(limit)
        )
        return [Ended(rid, at) for rid, at in self._session.execute(stmt).tuples()]

    def successor_of(self, recommendation_id: str) -> Recommendation | None:
        stmt = select(Recommendation).where(Recommendation.predecessor_id == recommendation_id)
        return self._session.scalars(stmt).first()

    # Time to ready

    def delivered_to_ready(
        self, *, since: datetime, practice_ods: str | None = None
    ) -> dict[str, list[float]]:
        """Seconds from first delivered to first ready-to-collect, for each recommendation
        that became ready since `since`, per practice (only `practice_ods`'s, when given).
        One statement for every practice, so a page of practices costs no more than one."""
        delivered = _first_applied("delivered")
        ready = _first_applied("ready-to-collect")
        stmt = (
            select(Recommendation.practice_ods, delivered.c.at, ready.c.at)
            .join(ready, ready.c.recommendation_id == delivered.c.recommendation_id)
            .join(Recommendation, Recommendation.id == delivered.c.recommendation_id)
            .where(ready.c.at >= since, Recommendation.practice_ods.is_not(None))
        )
        if practice_ods is not None:
            stmt = stmt.where(Recommendation.practice_ods == practice_ods)
        durations: dict[str, list[float]] = {}
        for ods, delivered_at, ready_at in self._session.execute(stmt).tuples():
            # Belt and braces: an aggregate may come back naive on SQLite; both are UTC.
            seconds = (_aware(ready_at) - _aware(delivered_at)).total_seconds()
            durations.setdefault(str(ods), []).append(max(0.0, seconds))
        return durations

    def awaiting(
        self, statuses: Sequence[str], *, practice_ods: str | None = None
    ) -> dict[str, int]:
        """Recommendations in one of `statuses` now, per practice (only `practice_ods`'s,
        when given)."""
        stmt = select(Recommendation.practice_ods, func.count()).where(
            Recommendation.status.in_(statuses), Recommendation.practice_ods.is_not(None)
        )
        if practice_ods is not None:
            stmt = stmt.where(Recommendation.practice_ods == practice_ods)
        stmt = stmt.group_by(Recommendation.practice_ods)
        return {str(ods): int(n) for ods, n in self._session.execute(stmt).tuples()}


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
