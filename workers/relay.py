"""Publish committed outbox rows to the broker, and repair what was lost in flight."""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta

from gateway.correlation import correlation
from gateway.domain import delivery_states
from gateway.domain.delivery_states import DeliveryMove, DeliveryState
from gateway.domain.isolation import publish_allowance
from gateway.services import fulfilment_tracking
from gateway.services.practice_access import breaker_of
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.models import Delivery
from gateway.store.unit_of_work import UnitOfWork
from workers.practice_gate import breaker_policy
from workers.runtime import Runtime

Publish = Callable[[str, str], None]  # (kind, ref_id)
# Opens a block whose publishes may wait in a buffer and go to the broker together when the
# block ends; leaving it without an error means the broker has every one of them.
Together = Callable[[], AbstractContextManager[object]]


def relay_outbox(
    rt: Runtime, publish: Publish, *, batch: int = 200, together: Together = nullcontext
) -> int:
    """Mark the recommendations queued and commit, then publish, then mark the rows
    published. A worker can therefore never see a job before its data, and a crash between
    the steps only publishes again, which the claims in deliver and notify make harmless.
    The batch is published `together` (one broker round trip where the transport allows):
    its rows count as published only once the whole block has gone."""
    with UnitOfWork(rt.session_factory) as uow:
        rows = [
            (row.id, row.kind, row.ref_id, row.correlation_id)
            for row in uow.outbox.unpublished(limit=batch)
        ]
        deliveries = uow.deliveries.get_many([ref for _, kind, ref, _ in rows if kind == "deliver"])
        # The batch's recommendations locked in one statement, not one round trip each, and
        # the Tasks and MedicationRequests that "queued" moves read in one more.
        uow.recommendations.lock_many(
            {d.recommendation_id for d in deliveries.values() if d.purpose != "withdrawal"},
            resource_types=fulfilment_tracking.TRACKED,
        )
        # The timeline rows go to the database together at commit, not in one round trip
        # each before the next recommendation's lock (docs/BENCHMARKS.md, the relay profile).
        with uow.session.no_autoflush:
            for _, kind, ref_id, _ in rows:
                delivery = deliveries.get(ref_id) if kind == "deliver" else None
                # A withdrawal leaves the recommendation's status as it is (cancelled).
                if delivery is not None and delivery.purpose != "withdrawal":
                    apply_status(
                        uow,
                        StatusChange(delivery.recommendation_id, "queued", source="relay"),
                        now=datetime.now(UTC),
                    )
        held = _hold_back(uow, rt, list(deliveries.values()), now=datetime.now(UTC))
        uow.commit()
    # A held delivery's row counts as published: the sweep hands it to the workers when its
    # practice's breaker lets it.
    published: list[int] = [row_id for row_id, _, ref_id, _ in rows if ref_id in held]
    try:
        sent: list[int] = []
        with together():
            for row_id, kind, ref_id, correlation_id in rows:
                if ref_id in held:
                    continue
                # The task carries the id of the request that wrote the row (task headers).
                with correlation(correlation_id):
                    publish(kind, ref_id)
                sent.append(row_id)
        # A failed block may have sent some of them: they stay unpublished and go again.
        published.extend(sent)
    finally:
        with UnitOfWork(rt.session_factory) as uow:
            uow.outbox.mark_published(published, at=datetime.now(UTC))
            uow.commit()
    return len(published)


def _hold_back(
    uow: UnitOfWork, rt: Runtime, deliveries: list[Delivery], *, now: datetime
) -> set[str]:
    """New deliveries to a practice whose breaker is open wait in the database, not in the
    broker's queue (gateway.domain.isolation.publish_allowance). Returns their ids."""
    held: set[str] = set()
    by_practice: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        if delivery.state == DeliveryState.PENDING and delivery.practice_ods is not None:
            by_practice.setdefault(delivery.practice_ods, []).append(delivery)
    policy = breaker_policy(rt.settings)
    for ods_code, waiting in by_practice.items():
        practice = uow.practices.get(ods_code)
        if practice is None:
            continue
        allowance = publish_allowance(breaker_of(practice), policy, now=now)
        if allowance.limit is None:
            continue
        for delivery in waiting[allowance.limit :]:
            # As the worker's gate defers: no attempt made, no retry budget spent.
            delivery_states.move(delivery, DeliveryMove.DEFER)
            delivery.next_attempt_at = allowance.not_before or now
            held.add(delivery.id)
    return held


def sweep(
    rt: Runtime, publish: Publish, *, batch: int = 500, together: Together = nullcontext
) -> int:
    """Republish due retries, deliveries whose worker died mid-attempt, jobs the broker lost,
    and notifications stuck pending. Every republish is safe: tasks claim before acting."""
    now = datetime.now(UTC)
    lease = timedelta(seconds=rt.settings.delivery.lease_seconds)
    with UnitOfWork(rt.session_factory) as uow:
        uow.deliveries.release_expired_leases(now=now)
        # A practice whose breaker is not closed gets at most its probe: the rest of its due
        # work stays in the database instead of queueing in front of other practices'.
        guarded = uow.practices.with_breaker_not_closed()
        due = uow.deliveries.due(
            now=now, limit=batch, excluding_practices=[p.ods_code for p in guarded]
        )
        policy = breaker_policy(rt.settings)
        for practice in guarded:
            if publish_allowance(breaker_of(practice), policy, now=now).limit:
                probe = uow.deliveries.first_due(practice.ods_code, now=now)
                if probe is not None:
                    due.append(probe)
        lost = uow.deliveries.pending_older_than(before=now - lease, limit=batch)
        stuck = uow.notifications.stuck(
            now=now, pending_before=now - timedelta(seconds=30), limit=batch
        )
        uow.commit()
    with together():
        for delivery_id in dict.fromkeys([*due, *lost]):
            publish("deliver", delivery_id)
        for notification_id in stuck:
            publish("notify", notification_id)
    return len(due) + len(lost) + len(stuck)
