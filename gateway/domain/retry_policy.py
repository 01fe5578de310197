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
        return RetryDecision(False, None, BUDGET_SPENT)
    return RetryDecision(True, at)


# Why a job with retry budget left is still given up: the far side said no outright.
BUDGET_SPENT = "retry budget spent"


@dataclass(frozen=True)
class Failure:
    """What a failed attempt says about trying again (from an adapter's error)."""

    permanent: bool  # refused: the same request would be refused again
    retry_after: float | None = None  # the server's Retry-After, in seconds


@dataclass(frozen=True)
class Retry:
    at: datetime


@dataclass(frozen=True)
class GiveUp:
    refused: bool  # the far side said no; otherwise the retry budget is spent

    @property
    def reason(self) -> str | None:
        return None if self.refused else BUDGET_SPENT


def after_failure(
    policy: RetryPolicy,
    attempts: int,
    error: Failure,
    now: datetime,
    *,
    first_attempt_at: datetime,
    draw: float,
) -> Retry | GiveUp:
    """One rule for every leased job (deliveries, chase-ups, notifications): a refusal is
    final; anything else waits with backoff until the budget is spent. `attempts` counts
    the one that just failed."""
    if error.permanent:
        return GiveUp(refused=True)
    decision = next_attempt(
        policy,
        attempt=attempts,
        first_attempt_at=first_attempt_at,
        now=now,
        draw=draw,
        retry_after=error.retry_after,
    )
    if decision.retry and decision.next_attempt_at is not None:
        return Retry(decision.next_attempt_at)
    return GiveUp(refused=False)
