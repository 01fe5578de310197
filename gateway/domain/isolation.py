"""Per-practice isolation rules: a circuit breaker and a rate limit. Pure: the caller supplies
the clock and stores the state (on the practice's directory row, so every worker shares it).

Circuit breaker:
- closed: calls go through; `failure_threshold` consecutive failures open it.
- open: no call goes through until `open_seconds` have passed since it opened.
- half-open: one probe call is let through (others wait); its success closes the breaker,
  its failure opens it again for another `open_seconds`. A probe whose worker died is given
  up after `probe_lease_seconds`, and another probe may go.

Rate limit: a token bucket holding up to one minute's allowance, refilled continuously.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

BreakerMode = Literal["closed", "open", "half-open"]


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int
    open_seconds: float
    probe_lease_seconds: float


@dataclass(frozen=True)
class Breaker:
    state: BreakerMode = "closed"
    failures: int = 0  # consecutive
    opened_at: datetime | None = None
    probe_until: datetime | None = None  # a half-open probe is in flight until then


@dataclass(frozen=True)
class Admission:
    allowed: bool
    breaker: Breaker  # the state to store
    retry_at: datetime | None = None  # when to ask again if not allowed
    reason: str | None = None


def admit(breaker: Breaker, policy: BreakerPolicy, *, now: datetime) -> Admission:
    """May a call to the practice go now?"""
    if breaker.state == "closed":
        return Admission(True, breaker)
    opened_at = breaker.opened_at or now
    reopen_at = opened_at + timedelta(seconds=policy.open_seconds)
    if breaker.state == "open" and now < reopen_at:
        return Admission(False, breaker, reopen_at, "circuit open: the practice keeps failing")
    if breaker.probe_until is not None and now < breaker.probe_until:
        return Admission(
            False, breaker, breaker.probe_until, "circuit half-open: a probe call is in flight"
        )
    probe = replace(
        breaker,
        state="half-open",
        probe_until=now + timedelta(seconds=policy.probe_lease_seconds),
    )
    return Admission(True, probe)


@dataclass(frozen=True)
class PublishAllowance:
    """How many of a practice's deliveries may be handed to the workers now (None: no limit),
    and when to look again if none may."""

    limit: int | None
    not_before: datetime | None = None


def publish_allowance(
    breaker: Breaker, policy: BreakerPolicy, *, now: datetime
) -> PublishAllowance:
    """A task for a practice whose breaker is open would only be deferred by the worker's
    gate, yet it waits in the one delivery queue in front of every other practice's work: a
    practice down with thousands queued held others up for minutes (docs/BENCHMARKS.md,
    figure 5). So while the breaker is open nothing is published; once its open period is
    over, one delivery (the probe); when closed, everything, and the gate paces it."""
    if breaker.state == "closed":
        return PublishAllowance(None)
    # The breaker's own rule decides: what `admit` would let through now is the probe.
    admission = admit(breaker, policy, now=now)
    return PublishAllowance(1) if admission.allowed else PublishAllowance(0, admission.retry_at)


def record_success(breaker: Breaker) -> Breaker:
    return Breaker()


def record_failure(breaker: Breaker, policy: BreakerPolicy, *, now: datetime) -> Breaker:
    failures = breaker.failures + 1
    if breaker.state == "half-open" or failures >= policy.failure_threshold:
        return Breaker(state="open", failures=failures, opened_at=now, probe_until=None)
    return replace(breaker, failures=failures)


@dataclass(frozen=True)
class Bucket:
    tokens: float
    checked_at: datetime


@dataclass(frozen=True)
class Take:
    allowed: bool
    bucket: Bucket
    retry_at: datetime | None = None


def take_token(bucket: Bucket | None, *, per_minute: int | None, now: datetime) -> Take:
    """Spend one call of the practice's allowance, if there is one left."""
    if per_minute is None:
        return Take(True, bucket or Bucket(0.0, now))
    if per_minute <= 0:
        raise ValueError("per_minute must be positive")
    capacity = float(per_minute)
    rate = per_minute / 60.0  # tokens per second
    if bucket is None:
        tokens = capacity
    else:
        elapsed = max(0.0, (now - bucket.checked_at).total_seconds())
        tokens = min(capacity, bucket.tokens + elapsed * rate)
    if tokens >= 1.0:
        return Take(True, Bucket(tokens - 1.0, now))
    wait = (1.0 - tokens) / rate
    return Take(False, Bucket(tokens, now), now + timedelta(seconds=wait))
