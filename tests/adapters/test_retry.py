import pytest

from adapters.errors import PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.retry import short_retry


class Flaky:
    """Raises the given errors in turn, then answers "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_transient_errors_are_retried_until_success() -> None:
    sleeps: list[float] = []
    call = Flaky(TransientAdapterError("boom", status_code=503), TransientAdapterError("boom"))

    assert short_retry(attempts=3, max_wait=2.0, sleep=sleeps.append)(call) == "done"

    assert call.calls == 3
    assert len(sleeps) == 2
    assert all(0 <= wait <= 2.0 for wait in sleeps)


def test_last_transient_error_is_reraised_when_attempts_run_out() -> None:
    last = TransientAdapterError("third", status_code=503)
    call = Flaky(TransientAdapterError("first"), TransientAdapterError("second"), last)

    with pytest.raises(TransientAdapterError) as raised:
        short_retry(attempts=3, sleep=lambda _: None)(call)

    assert raised.value is last
    assert call.calls == 3


@pytest.mark.parametrize(
    "error", [PermanentAdapterError("bad request", status_code=400), ValueError("a bug")]
)
def test_other_errors_are_not_retried(error: Exception) -> None:
    sleeps: list[float] = []
    call = Flaky(error)

    with pytest.raises(type(error)):
        short_retry(sleep=sleeps.append)(call)

    assert call.calls == 1
    assert sleeps == []


def test_rate_limit_within_max_wait_waits_what_the_server_asked() -> None:
    sleeps: list[float] = []
    call = Flaky(RateLimited("slow down", retry_after=1.5))

    assert short_retry(max_wait=2.0, sleep=sleeps.append)(call) == "done"

    assert sleeps == [1.5]


def test_rate_limit_beyond_max_wait_is_left_to_the_caller() -> None:
    sleeps: list[float] = []
    call = Flaky(RateLimited("slow down", retry_after=30))

    with pytest.raises(RateLimited) as raised:
        short_retry(max_wait=2.0, sleep=sleeps.append)(call)

    assert raised.value.retry_after == 30
    assert call.calls == 1
    assert sleeps == []


def test_jittered_waits_never_exceed_max_wait() -> None:
    sleeps: list[float] = []
    call = Flaky(*[TransientAdapterError("down") for _ in range(9)])

    short_retry(attempts=10, max_wait=0.5, sleep=sleeps.append)(call)

    assert len(sleeps) == 9
    assert all(0 <= wait <= 0.5 for wait in sleeps)
    assert len(set(sleeps)) > 1  # jittered, not a fixed schedule
