"""Per-practice isolation around every call a worker makes to a GP system.

Before a delivery is claimed, `admit_delivery` asks the practice's gate (circuit breaker,
in-flight limit, rate limit: gateway.domain.practice_access). A refusal defers the delivery
with `next_attempt_at`: no attempt is recorded, no retry budget is spent, and the worker is
free at once for another practice's work. After the call, `record_outcome` feeds the breaker.
"""

from datetime import datetime, timedelta

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited
from gateway.domain import delivery_states
from gateway.domain.delivery_states import CLAIMABLE, DeliveryMove
from gateway.domain.isolation import BreakerPolicy
from gateway.domain.practice_access import open_gate, record_call
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork

DEFAULT_DEFER_SECONDS = 5.0


def breaker_policy(settings: Settings) -> BreakerPolicy:
    return BreakerPolicy(
        failure_threshold=settings.breaker_failure_threshold,
        open_seconds=settings.breaker_open_seconds,
        # A probe whose worker died must not keep the practice shut for ever.
        probe_lease_seconds=max(30.0, settings.http_timeout_seconds * 3),
    )


def admit_delivery(uow: UnitOfWork, settings: Settings, delivery_id: str, *, now: datetime) -> bool:
    """True: go on and claim the delivery. False: it was deferred (the caller commits)."""
    delivery = uow.deliveries.get(delivery_id)
    if delivery is None:
        return True  # the claim will find nothing
    ods_code = delivery.practice_ods
    if ods_code is None:
        return True  # not routed yet: workers.resolving decides before any call
    if uow.gp_links.lock_practice(ods_code) is None:
        return True
    # Read again under the practice's lock: another worker may have just taken it.
    uow.session.refresh(delivery)
    due = delivery.next_attempt_at is None or delivery.next_attempt_at <= now
    if delivery.state not in CLAIMABLE or not due:
        return True  # not ours to send now; the claim says so without touching the gate
    gate = open_gate(
        uow,
        ods_code,
        now=now,
        policy=breaker_policy(settings),
        in_flight_limit=settings.practice_max_in_flight,
    )
    if gate.allowed:
        return True
    delivery_states.move(delivery, DeliveryMove.DEFER)
    delivery.next_attempt_at = gate.retry_at or now + timedelta(seconds=DEFAULT_DEFER_SECONDS)
    return False


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
