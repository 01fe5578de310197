"""Publish committed outbox rows to the broker, and repair what was lost in flight."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gateway.domain.status_updates import StatusChange, apply_status
from gateway.logging import correlation
from gateway.store.unit_of_work import UnitOfWork
from workers.runtime import Runtime

Publish = Callable[[str, str], None]  # (kind, ref_id)


def relay_outbox(rt: Runtime, publish: Publish, *, batch: int = 200) -> int:
    """Mark the recommendations queued and commit, then publish, then mark the rows
    published. A worker can therefore never see a job before its data, and a crash between
    the steps only publishes again, which the claims in deliver and notify make harmless."""
    with UnitOfWork(rt.session_factory) as uow:
        rows = [
            (row.id, row.kind, row.ref_id, row.correlation_id)
            for row in uow.outbox.unpublished(limit=batch)
        ]
        deliveries = uow.deliveries.get_many([ref for _, kind, ref, _ in rows if kind == "deliver"])
        # The timeline rows go to the database together at commit, not in one round trip
        # each before the next recommendation's lock (docs/BENCHMARKS.md, fix 3).
        with uow.session.no_autoflush:
            for _, kind, ref_id, _ in rows:
                delivery = deliveries.get(ref_id) if kind == "deliver" else None
                if delivery is not None:
                    apply_status(
                        uow,
                        StatusChange(delivery.recommendation_id, "queued", source="relay"),
                        now=datetime.now(UTC),
                    )
        uow.commit()
    published: list[int] = []
    try:
        for row_id, kind, ref_id, correlation_id in rows:
            # The task carries the id of the request that wrote the row (task headers).
            with correlation(correlation_id):
                publish(kind, ref_id)
            published.append(row_id)
    finally:
        with UnitOfWork(rt.session_factory) as uow:
            uow.outbox.mark_published(published, at=datetime.now(UTC))
            uow.commit()
    return len(published)


def sweep(rt: Runtime, publish: Publish, *, batch: int = 500) -> int:
    """Republish due retries, deliveries whose worker died mid-attempt, jobs the broker lost,
    and notifications stuck pending. Every republish is safe: tasks claim before acting."""
    now = datetime.now(UTC)
    lease = timedelta(seconds=rt.settings.delivery_lease_seconds)
    with UnitOfWork(rt.session_factory) as uow:
        uow.deliveries.release_expired_leases(now=now)
        due = uow.deliveries.due(now=now, limit=batch)
        lost = uow.deliveries.pending_older_than(before=now - lease, limit=batch)
        stuck = uow.notifications.stuck(
            now=now, pending_before=now - timedelta(seconds=30), limit=batch
        )
        uow.commit()
    for delivery_id in dict.fromkeys([*due, *lost]):
        publish("deliver", delivery_id)
    for notification_id in stuck:
        publish("notify", notification_id)
    return len(due) + len(lost) + len(stuck)
