"""Per-practice isolation around every call a worker makes to a GP system.

A delivery is claimed through its practice's gate (`claim_delivery`: circuit breaker,
in-flight limit, rate limit, gateway.services.practice_access.claim_through_gate). A refusal
defers the delivery with `next_attempt_at`: no attempt is recorded, no retry budget is spent,
and the worker is free at once for another practice's work. After the call,
`record_outcome` feeds the breaker.
"""

from datetime import datetime, timedelta

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited
from gateway.domain.isolation import BreakerPolicy
from gateway.services.practice_access import GatedClaim, claim_through_gate, record_call
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork

DEFAULT_DEFER_SECONDS = 5.0


def breaker_policy(settings: Settings) -> BreakerPolicy:
    return BreakerPolicy(
        failure_threshold=settings.delivery.breaker_failure_threshold,
        open_seconds=settings.delivery.breaker_open_seconds,
        # A probe whose worker died must not keep the practice shut for ever.
        probe_lease_seconds=max(30.0, settings.delivery.http_timeout_seconds * 3),
    )


def claim_delivery(
    uow: UnitOfWork,
    settings: Settings,
    delivery_id: str,
    ods_code: str | None,
    *,
    now: datetime,
) -> GatedClaim:
    """Claim the delivery for one attempt if its practice's gate lets it go now, or defer it
    (the caller commits either way)."""
    return claim_through_gate(
        uow,
        delivery_id,
        ods_code,
        now=now,
        lease=timedelta(seconds=settings.delivery.lease_seconds),
        policy=breaker_policy(settings),
        in_flight_limit=settings.delivery.practice_max_in_flight,
        defer_seconds=DEFAULT_DEFER_SECONDS,
    )


def healthy(error: AdapterError | None) -> bool:
    """Whether a call's outcome says the practice's system is up: any answer is, even a
    refusal or a request to slow down; timeouts, lost connections and 5xx are not."""
    return error is None or isinstance(error, PermanentAdapterError | RateLimited)


def record_outcome(
    uow: UnitOfWork,
    settings: Settings,
    ods_code: str,
    error: AdapterError | None,
    *,
    now: datetime,
    error_text: str | None = None,
) -> None:
    """`error_text`: what to keep of the error (workers.attempt_errors), when it may name
    the patient."""
    record_call(
        uow,
        ods_code,
        healthy=healthy(error),
        error=error_text if error_text is not None else (str(error) if error else None),
        now=now,
        policy=breaker_policy(settings),
    )
