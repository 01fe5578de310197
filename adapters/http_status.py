"""What an outside system's HTTP answer means for the caller: one mapping for every adapter.

- 429 Too Many Requests (RFC 6585 §4): `RateLimited`, waiting as its `Retry-After` says.
- 408 Request Timeout and 5xx (RFC 9110 §15.5.9, §15.6): `TransientAdapterError`.
- Any other status outside 2xx: `PermanentAdapterError` (asking again the same way will not
  help; redirects are never followed, so a 3xx is one too).

An adapter that gives a status a meaning of its own (a 404 that means "no such patient", a
409 on booking) handles that status before asking here.
"""

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited, TransientAdapterError

# How long to wait when a 429 says nothing usable about it.
DEFAULT_RETRY_AFTER: Final = 30.0

# RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds, delay-seconds = 1*DIGIT.
_DELAY_SECONDS: Final = re.compile(r"[0-9]+")


def retry_after_seconds(
    header: str | None, *, now: datetime | None = None, default: float = DEFAULT_RETRY_AFTER
) -> float:
    """Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110
    §10.2.3; the date in any of the three forms of §5.6.7, which are all GMT). A date in the
    past means now (0); a missing or unreadable value means `default`."""
    value = (header or "").strip()
    if not value:
        return default
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return default
    if when.tzinfo is None:  # asctime-date carries no zone: HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else default


def is_success(status: int) -> bool:
    return 200 <= status < 300


def error_for_status(
    status: int,
    message: str,
    *,
    retry_after: str | None = None,
    default_retry_after: float = DEFAULT_RETRY_AFTER,
) -> AdapterError:
    """The error for a non-2xx `status`; `message` says who answered what (never personal
    data), `retry_after` is the answer's Retry-After header, if any."""
    if status == 429:
        wait = retry_after_seconds(retry_after, default=default_retry_after)
        return RateLimited(message, retry_after=wait, status_code=status)
    if status == 408 or status >= 500:
        return TransientAdapterError(message, status_code=status)
    return PermanentAdapterError(message, status_code=status)
