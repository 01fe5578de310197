"""When to try a failed delivery again: exponential backoff with full jitter, a cap per wait
and a total budget. Pure: the caller supplies the clock and the random draw."""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    cap_seconds: float
    budget_seconds: float


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    next_attempt_at: datetime | None
    reason: str | None = None


def next_attempt(
    policy: RetryPolicy,
    *,
    attempt: int,
    first_attempt_at: datetime,
    now: datetime,
    draw: float,
    retry_after: float | None = None,
) -> RetryDecision:
    """`attempt` counts from 1; `draw` is uniform in [0, 1). A server's Retry-After is a floor."""
    ceiling = min(policy.cap_seconds, policy.base_seconds * (2 ** (attempt - 1)))
    delay = draw * ceiling
    if retry_after is not None:
        delay = max(delay, retry_after)
    at = now + timedelta(seconds=delay)
    deadline = first_attempt_at + timedelta(seconds=policy.budget_seconds)
    if at > deadline:
        return RetryDecision(False, None, "retry budget spent")
    return RetryDecision(True, at)
