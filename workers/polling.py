"""Poll a practice's GP system for status changes since its cursor, and apply them."""

from datetime import UTC, datetime, timedelta

from adapters.errors import AdapterError
from gateway.domain.lifecycle import AWAITING_PRACTICE
from gateway.domain.status_updates import StatusChange, apply_status
from gateway.store.unit_of_work import UnitOfWork
from workers.runtime import PracticeEndpoint, Runtime


def practices_to_poll(rt: Runtime) -> list[str]:
    with UnitOfWork(rt.session_factory) as uow:
        return uow.recommendations.practices_with_status(AWAITING_PRACTICE)


def poll_practice(rt: Runtime, ods_code: str) -> int:
    """Returns how many status changes were applied."""
    now = datetime.now(UTC)
    lease = timedelta(seconds=max(30.0, rt.settings.http_timeout_seconds * 3))
    with UnitOfWork(rt.session_factory) as uow:
        practice = uow.practices.get(ods_code)
        if practice is None or not uow.practices.claim_poll(ods_code, now=now, lease=lease):
            return 0
        endpoint = PracticeEndpoint(practice.ods_code, practice.adapter, practice.base_url)
        cursor = practice.poll_cursor
        uow.commit()
    try:
        batch = rt.gp_system_for(endpoint).fetch_updates(ods_code=ods_code, since=cursor)
    except AdapterError:
        with UnitOfWork(rt.session_factory) as uow:
            uow.practices.finish_poll(ods_code, cursor=cursor, at=datetime.now(UTC))
            uow.commit()
        return 0
    applied = 0
    with UnitOfWork(rt.session_factory) as uow:
        for report in batch.reports:
            recommendation = uow.recommendations.get(report.recommendation_id)
            # A practice may only speak for requests addressed to it.
            if recommendation is None or recommendation.practice_ods != ods_code:
                continue
            change = StatusChange(
                report.recommendation_id,
                report.status,
                source="poll",
                detail=report.detail,
                pharmacy=report.pharmacy,
            )
            applied += apply_status(uow, change, now=datetime.now(UTC))
        uow.practices.finish_poll(ods_code, cursor=batch.cursor, at=datetime.now(UTC))
        uow.commit()
    return applied
