"""Use case: may Liaison call a practice's GP system now, and what did the call teach us?

Every delivery and poll asks `open_gate` first (circuit breaker, in-flight limit, rate limit,
decided under a lock on the practice's row) and reports back with `record_call`. A refusal
comes with the time to ask again, so the caller defers its work instead of waiting: no
worker is held by a practice that is down, slow or over its allowance.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from gateway.domain.isolation import (
    Breaker,
    BreakerMode,
    BreakerPolicy,
    Bucket,
    admit,
    record_failure,
    record_success,
    take_token,
)
from gateway.store.models import Practice
from gateway.store.unit_of_work import UnitOfWork

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
    uow: UnitOfWork,
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
    bucket = (
        Bucket(practice.rate_tokens, practice.rate_checked_at)
        if practice.rate_tokens is not None and practice.rate_checked_at is not None
        else None
    )
    take = take_token(bucket, per_minute=practice.rate_limit_per_minute, now=now)
    if practice.rate_limit_per_minute is not None:
        practice.rate_tokens = take.bucket.tokens
        practice.rate_checked_at = take.bucket.checked_at
    if not take.allowed:
        return Gate(False, take.retry_at, "practice rate limit reached")
    _store_breaker(practice, admission.breaker)
    return Gate(True)


def record_call(
    uow: UnitOfWork,
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
