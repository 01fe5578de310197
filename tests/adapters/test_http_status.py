"""One meaning for an outside system's HTTP status, and one reading of Retry-After (RFC 9110
§10.2.3: delay-seconds or an HTTP-date), shared by every adapter."""

from datetime import UTC, datetime

import pytest

from adapters.errors import AdapterError, PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.http_status import error_for_status, retry_after_seconds

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("45", 45),
        ("0", 0),
        (" 120 ", 120),  # optional white space around a field value (RFC 9110 §5.5)
        ("Thu, 26 Nov 2026 10:01:30 GMT", 90),  # IMF-fixdate
        ("Thursday, 26-Nov-26 10:02:00 GMT", 120),  # obsolete RFC 850 form
        ("Thu Nov 26 10:00:30 2026", 30),  # obsolete asctime form, which is GMT
        ("Thu, 26 Nov 2026 09:00:00 GMT", 0),  # a date gone by: ask again now
    ],
)
def test_retry_after_reads_delay_seconds_and_each_http_date_form(
    header: str, seconds: float
) -> None:
    assert retry_after_seconds(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "1e3"])
def test_a_retry_after_that_is_neither_form_waits_the_default(header: str | None) -> None:
    assert retry_after_seconds(header, now=NOW) == 30
    assert retry_after_seconds(header, now=NOW, default=60) == 60


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, RateLimited),
        (408, TransientAdapterError),
        (500, TransientAdapterError),
        (503, TransientAdapterError),
        (400, PermanentAdapterError),
        (401, PermanentAdapterError),
        (404, PermanentAdapterError),
        (302, PermanentAdapterError),
    ],
)
def test_a_status_maps_to_the_error_that_says_whether_to_ask_again(
    status: int, kind: type[AdapterError]
) -> None:
    error = error_for_status(status, "system answered", retry_after="7")
    assert type(error) is kind
    assert error.status_code == status
    assert str(error) == "system answered"


def test_a_rate_limit_waits_as_its_retry_after_says_or_the_adapters_default() -> None:
    told = error_for_status(429, "slow down", retry_after="7")
    silent = error_for_status(429, "slow down", default_retry_after=60)
    assert isinstance(told, RateLimited)
    assert told.retry_after == 7
    assert isinstance(silent, RateLimited)
    assert silent.retry_after == 60
