"""Use case: may Liaison call a practice's GP system now, and what did the call teach us?

Every delivery and poll asks `open_gate` first (circuit breaker, in-flight limit, rate limit,
decided under a lock on the practice's row) and reports back with `record_call`. A refusal
comes with the time to ask again, so the caller defers its work instead of waiting: no
worker is held by a practice that is down, slow or over its allowance.

The caller commits (the practice's row stays locked until it does).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from gateway.domain.isolation import (
    Breaker,
    BreakerMode,
    BreakerPolicy,
    Bucket,
    Take,
    admit,
    record_failure,
    record_success,
    take_token,
)
from gateway.store.models import Practice
from gateway.store.ports import UnitOfWorkPort

# How soon a delivery turned away by the in-flight limit asks again: the sweep republishes
# due work every few seconds anyway.
IN_FLIGHT_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Gate:
    allowed: bool
    retry_at: datetime | None = None
    reason: str | None = None


def breaker_of(practice: Practice) -> Breaker:
    return Breaker(
        state=cast(BreakerMode, practice.breaker_state or "closed"),
        failures=practice.breaker_failures or 0,
        opened_at=practice.breaker_opened_at,
        probe_until=practice.breaker_probe_until,
    )


def _store_breaker(practice: Practice, breaker: Breaker) -> None:
    practice.breaker_state = breaker.state
    practice.breaker_failures = breaker.failures
    practice.breaker_opened_at = breaker.opened_at
    practice.breaker_probe_until = breaker.probe_until


def max_in_flight(practice: Practice, default: int) -> int:
    configured = (practice.config or {}).get("max_in_flight")
    return int(configured) if isinstance(configured, int) and configured > 0 else default


def open_gate(
    uow: UnitOfWorkPort,
    ods_code: str,
    *,
    now: datetime,
    policy: BreakerPolicy,
    in_flight_limit: int | None,
) -> Gate:
    """Decide and record (the caller commits) whether one call to the practice may go now.
    `in_flight_limit` None skips the concurrency check (polls hold their own lease)."""
    practice = uow.gp_links.lock_practice(ods_code)
    if practice is None:
        return Gate(False, None, f"practice {ods_code} is not in the directory")
    admission = admit(breaker_of(practice), policy, now=now)
    if not admission.allowed:
        return Gate(False, admission.retry_at, admission.reason)
    if in_flight_limit is not None:
        limit = max_in_flight(practice, in_flight_limit)
        if uow.gp_links.in_flight_count(ods_code, now=now) >= limit:
            return Gate(
                False,
                now + timedelta(seconds=IN_FLIGHT_RETRY_SECONDS),
                f"practice already has {limit} deliveries in flight",
            )
    take = _take(practice, now)
    if not take.allowed:
        return Gate(False, take.retry_at, "practice rate limit reached")
    _store_breaker(practice, admission.breaker)
    return Gate(True)


def _take(practice: Practice, now: datetime) -> Take:
    """Spend one call of the practice's rate allowance, if it has one (stored on the row)."""
    bucket = (
        Bucket(practice.rate_tokens, practice.rate_checked_at)
        if practice.rate_tokens is not None and practice.rate_checked_at is not None
        else None
    )
    take = take_token(bucket, per_minute=practice.rate_limit_per_minute, now=now)
    if practice.rate_limit_per_minute is not None:
        practice.rate_tokens = take.bucket.tokens
        practice.rate_checked_at = take.bucket.checked_at
    return take


@dataclass(frozen=True)
class GatedClaim:
    outcome: Literal["claimed", "deferred", "skipped"]
    practice: Practice | None = None  # the practice's row, locked until commit


def claim_through_gate(
    uow: UnitOfWorkPort,
    delivery_id: str,
    ods_code: str | None,
    *,
    now: datetime,
    lease: timedelta,
    policy: BreakerPolicy,
    in_flight_limit: int,
    defer_seconds: float,
) -> GatedClaim:
    """Ask the practice's gate and claim the delivery for one attempt (the caller commits),
    in two statements: the practice's row locked, then one conditional UPDATE that claims
    the delivery only if it is due and the practice has room in flight (counted in that
    statement, under the lock, so concurrent claims for the practice see each other). The
    breaker and rate limit are decided from the locked row in between, and what they spend
    (a probe, a token) is kept only when the claim succeeds. A refusal defers a delivery
    that is still waiting (no attempt made, no retry budget spent); one that is not (taken,
    finished, not due) is skipped."""
    practice = uow.gp_links.lock_practice(ods_code) if ods_code is not None else None
    if practice is None:
        # Not routed yet or not in the directory: the claim alone decides, the caller stops it.
        claimed = uow.deliveries.claim(delivery_id, now=now, lease=lease)
        return GatedClaim("claimed" if claimed else "skipped")
    admission = admit(breaker_of(practice), policy, now=now)
    if not admission.allowed:
        return _deferred(uow, delivery_id, practice, admission.retry_at, now, defer_seconds)
    tokens = (practice.rate_tokens, practice.rate_checked_at)
    take = _take(practice, now)
    if not take.allowed:
        return _deferred(uow, delivery_id, practice, take.retry_at, now, defer_seconds)
    limit = max_in_flight(practice, in_flight_limit)
    if uow.deliveries.claim(delivery_id, now=now, lease=lease, in_flight_below=limit):
        _store_breaker(practice, admission.breaker)
        return GatedClaim("claimed", practice)
    # Not claimed: the token is not spent. Either the practice is full (defer while it waits)
    # or the delivery is not waiting any more (the conditional deferral finds nothing).
    practice.rate_tokens, practice.rate_checked_at = tokens
    retry_at = now + timedelta(seconds=IN_FLIGHT_RETRY_SECONDS)
    return _deferred(uow, delivery_id, practice, retry_at, now, defer_seconds)


def _deferred(
    uow: UnitOfWorkPort,
    delivery_id: str,
    practice: Practice,
    retry_at: datetime | None,
    now: datetime,
    defer_seconds: float,
) -> GatedClaim:
    until = retry_at or now + timedelta(seconds=defer_seconds)
    deferred = uow.deliveries.defer_if_waiting(delivery_id, now=now, until=until)
    return GatedClaim("deferred" if deferred else "skipped", practice)


def record_call(
    uow: UnitOfWorkPort,
    ods_code: str,
    *,
    healthy: bool,
    error: str | None,
    now: datetime,
    policy: BreakerPolicy,
) -> Breaker | None:
    """Feed one call's outcome to the practice's breaker (the caller commits). `healthy` is
    False only for failures that say the system is unwell: timeouts, refused connections, 5xx."""
    practice = uow.gp_links.lock_practice(ods_code)
    if practice is None:
        return None
    breaker = breaker_of(practice)
    if healthy:
        updated = record_success(breaker)
    else:
        updated = record_failure(breaker, policy, now=now)
        practice.breaker_last_error = error
    _store_breaker(practice, updated)
    return updated
