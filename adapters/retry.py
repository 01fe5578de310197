"""Short in-process retries for adapter calls.

Only seconds-long waits belong here: anything longer is the caller's job (it stores
`next_attempt_at` in the database), so a `RateLimited` asking for more than
`max_wait` is raised at once instead of holding a worker.
"""

import time
from collections.abc import Callable

import tenacity

from adapters.errors import RateLimited, TransientAdapterError


def _worth_retrying_now(max_wait: float) -> Callable[[BaseException], bool]:
    def decide(error: BaseException) -> bool:
        if isinstance(error, RateLimited):
            return error.retry_after <= max_wait
        return isinstance(error, TransientAdapterError)

    return decide


def _wait(max_wait: float) -> Callable[[tenacity.RetryCallState], float]:
    # Full jitter spreads out workers that all saw the same outage at the same moment.
    jittered = tenacity.wait_random_exponential(multiplier=max_wait / 4, max=max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited):
            return error.retry_after
        return jittered(state)

    return wait


def short_retry(
    *,
    attempts: int = 3,
    max_wait: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    give_up_after: float | None = None,
) -> tenacity.Retrying:
    """A policy for one adapter call: `short_retry()(func, *args)`.

    Retries `TransientAdapterError` (and `RateLimited` that fits within `max_wait`)
    up to `attempts` calls in all, then re-raises the last error unchanged. With
    `give_up_after`, no new attempt starts once that many seconds have gone: a call that
    failed slowly (a timeout) is not repeated while the worker waits.
    """
    stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(attempts)
    if give_up_after is not None:
        stop = stop | tenacity.stop_after_delay(give_up_after)
    return tenacity.Retrying(
        stop=stop,
        wait=_wait(max_wait),
        retry=tenacity.retry_if_exception(_worth_retrying_now(max_wait)),
        reraise=True,
        sleep=sleep,
    )
