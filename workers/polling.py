"""Learning what practices did: poll each practice's GP system for changes since its cursor,
follow MESH messages until the practice's system files them (or the response is overdue),
and read Liaison's own MESH inbox (ITK3 responses, non-delivery reports).

One task per practice: a slow or failing practice holds up only its own poll, and its
circuit breaker (gateway.domain.isolation) stops polls to it while it is open.
"""

import logging
from datetime import UTC, datetime, timedelta

from adapters.errors import AdapterError
from adapters.gp_registry import kind_of
from adapters.gp_system import (
    Capability,
    DeliveryTracker,
    UpdateSource,
    delivery_tracker,
    update_source,
)
from adapters.mesh import InboundMessage, tracking_outcome
from gateway.domain.lifecycle import AWAITING_PRACTICE
from gateway.services.gp_replies import apply_mesh_message, apply_reports
from gateway.services.itk_responses import COLLECTED, check_response_due, record_tracking
from gateway.services.practice_access import open_gate
from gateway.store.unit_of_work import UnitOfWork
from workers.practice_gate import breaker_policy, record_outcome
from workers.runtime import PracticeEndpoint, Runtime

log = logging.getLogger(__name__)

MESH_TRACKING_BATCH = 100
POLL_LEASE_TIMEOUTS = 5


def _now() -> datetime:
    return datetime.now(UTC)


def _kind_capabilities(adapter: str) -> Capability | None:
    kind = kind_of(adapter)
    return kind.capabilities if kind is not None else None


def polled(adapter: str) -> bool:
    """Whether practices on this adapter kind are polled: it fetches updates or tracks what
    it sent (the practice inbox does neither: it is inside Liaison). A kind Liaison does not
    have is polled too, so that its adapter's refusal is recorded."""
    capabilities = _kind_capabilities(adapter)
    return capabilities is None or bool(
        capabilities & (Capability.FETCH_UPDATES | Capability.TRACK)
    )


def _tracked(adapter: str) -> bool:
    """A kind that follows each sent message (MESH) calls no practice endpoint per poll, so
    the practice's circuit breaker does not hold its tracking back."""
    capabilities = _kind_capabilities(adapter)
    return capabilities is not None and Capability.TRACK in capabilities


def practices_to_poll(rt: Runtime) -> list[str]:
    """Practices with requests awaiting news, except those whose last poll is still running or
    ended less than half an interval ago: beat asks every interval whatever the workers'
    backlog, and polls queued behind one another crowded deliveries out (docs/BENCHMARKS.md)."""
    now = _now()
    recent = now - timedelta(seconds=rt.settings.delivery.poll_interval_seconds / 2)
    with UnitOfWork(rt.session_factory) as uow:
        waiting = list(uow.recommendations.practices_with_status(AWAITING_PRACTICE))
        if rt.settings.mesh.url:
            # A MESH message awaiting its responses (or their deadline) is followed too.
            waiting += sorted(uow.gp_links.practices_with_open_messages() - set(waiting))
        pollable = {
            p.ods_code
            for p in uow.practices.list()
            if polled(p.adapter)
            and not (p.poll_lease_until is not None and p.poll_lease_until > now)
            and not (p.last_polled_at is not None and p.last_polled_at > recent)
        }
    return [ods for ods in waiting if ods in pollable]


def poll_practice(rt: Runtime, ods_code: str) -> int:
    """Returns how many status changes were applied."""
    now = _now()
    with UnitOfWork(rt.session_factory) as uow:
        practice = uow.practices.get(ods_code)
        if practice is None or not polled(practice.adapter):
            return 0
        endpoint = PracticeEndpoint.of(practice)
        # Longer than the poll can take (every page may wait the practice's timeout), so a
        # slow practice never has two polls, and two workers, at once.
        timeout = endpoint.timeout(rt.settings)
        lease = timedelta(seconds=max(30.0, timeout * POLL_LEASE_TIMEOUTS))
        if not uow.practices.claim_poll(ods_code, now=now, lease=lease):
            return 0
        cursor = practice.poll_cursor
        if not _tracked(endpoint.adapter):
            # A tripped breaker lets one call through when its open period ends. If a delivery
            # is waiting, it should be that call (it makes progress, and it spends its retry
            # budget towards a dead letter); a poll every second would otherwise take the
            # probe each time before the sweep hands the delivery over (workers/relay.py).
            delivery_waits = (
                practice.breaker_state != "closed"
                and uow.deliveries.first_due(ods_code, now=now) is not None
            )
            allowed = not delivery_waits and (
                open_gate(
                    uow, ods_code, now=now, policy=breaker_policy(rt.settings), in_flight_limit=None
                ).allowed
            )
            if not allowed:
                uow.practices.finish_poll(ods_code, cursor=cursor, at=now)
                uow.commit()
                return 0
        uow.commit()
    gp = rt.gp_system_for(endpoint)
    tracker = delivery_tracker(gp)
    if tracker is not None:
        return _track_mesh(rt, ods_code, tracker, cursor)
    source = update_source(gp)
    if source is None:
        # Nothing this adapter can be asked (it neither fetches nor tracks).
        with UnitOfWork(rt.session_factory) as uow:
            uow.practices.finish_poll(ods_code, cursor=cursor, at=_now())
            uow.commit()
        return 0
    return _fetch_updates(rt, ods_code, source, cursor)


def _fetch_updates(rt: Runtime, ods_code: str, source: UpdateSource, cursor: str | None) -> int:
    """Ask the practice's system for every change since the cursor and apply them."""
    try:
        batch = source.fetch_updates(ods_code=ods_code, since=cursor)
    except AdapterError as error:
        with UnitOfWork(rt.session_factory) as uow:
            record_outcome(uow, rt.settings, ods_code, error, now=_now())
            uow.practices.finish_poll(ods_code, cursor=cursor, at=_now())
            uow.commit()
        return 0
    with UnitOfWork(rt.session_factory) as uow:
        record_outcome(uow, rt.settings, ods_code, None, now=_now())
        outcome = apply_reports(uow, ods_code, batch.reports, source="poll", now=_now())
        uow.practices.finish_poll(ods_code, cursor=batch.cursor, at=_now())
        uow.commit()
    return outcome.applied


def _track_mesh(rt: Runtime, ods_code: str, gp: DeliveryTracker, cursor: str | None) -> int:
    """Look at this practice's MESH messages still open (each at most once per tracking
    interval): ask MESH about those not yet collected (failed or 5 days unread -> dead
    letter), and dead-letter those with no ITK3 business response in time."""
    now = _now()
    interval = timedelta(seconds=rt.settings.mesh.tracking_interval_seconds)
    with UnitOfWork(rt.session_factory) as uow:
        waiting = [
            (d.id, d.remote_reference, d.delivered_at, d.remote_status)
            for d in uow.gp_links.deliveries_to_track(
                ods_code, checked_before=now - interval, limit=MESH_TRACKING_BATCH
            )
        ]
    changed = 0
    try:
        for delivery_id, message_id, sent_at, remote_status in waiting:
            assert message_id is not None
            fate = None
            if remote_status not in COLLECTED:
                tracking = gp.track(message_id)
                fate = tracking_outcome(tracking, sent_at=sent_at or now, now=_now())
            with UnitOfWork(rt.session_factory) as uow:
                delivery = uow.deliveries.get(delivery_id)
                if delivery is not None and delivery.state == "delivered":
                    if fate is not None:
                        changed += record_tracking(uow, delivery, fate, now=_now())
                    else:
                        delivery.remote_checked_at = _now()
                    changed += check_response_due(
                        uow,
                        delivery,
                        timeout_seconds=rt.settings.mesh.response_timeout_seconds,
                        now=_now(),
                    )
                uow.commit()
    except AdapterError as error:
        log.warning("MESH tracking for %s failed: %s", ods_code, error)
    with UnitOfWork(rt.session_factory) as uow:
        uow.practices.finish_poll(ods_code, cursor=cursor, at=_now())
        uow.commit()
    return changed


def read_mesh_inbox(rt: Runtime, *, limit: int = 500) -> int:
    """Collect every message waiting in Liaison's MESH mailbox: apply it, commit, and only
    then acknowledge it, so a crash in between reads it again (applying twice is a no-op)."""
    mailbox = rt.mesh_mailbox()
    if mailbox is None:
        return 0
    try:
        message_ids = mailbox.inbox(limit=limit)
    except AdapterError as error:
        log.warning("MESH inbox list failed: %s", error)
        return 0
    handled = 0
    for message_id in message_ids:
        try:
            message = mailbox.read(message_id)
        except AdapterError as error:
            log.warning("MESH download of %s failed: %s", message_id, error)
            continue
        kind = _apply(rt, message)
        if kind not in ("response", "report"):
            # Kept out of the lifecycle; acknowledged so it is not read for ever.
            log.warning("MESH message %s dropped: %s", message_id, kind)
        try:
            mailbox.acknowledge(message_id)
        except AdapterError as error:
            log.warning("MESH acknowledgement of %s failed: %s", message_id, error)
            continue
        handled += 1
    return handled


def _apply(rt: Runtime, message: InboundMessage) -> str:
    """Apply one inbox message; whatever it holds, the poller goes on (a message that breaks
    the reader is dropped as unreadable, the transaction rolled back)."""
    try:
        with UnitOfWork(rt.session_factory) as uow:
            outcome = apply_mesh_message(uow, message, now=_now())
            uow.commit()
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return f"unreadable ({type(error).__name__})"
    return outcome.kind


def mesh_handshake(rt: Runtime) -> bool:
    """MESH asks every client to handshake (authenticate and report its version) daily."""
    mailbox = rt.mesh_mailbox()
    if mailbox is None:
        return False
    try:
        mailbox.handshake()
    except AdapterError as error:
        log.warning("MESH handshake failed: %s", error)
        return False
    return True
