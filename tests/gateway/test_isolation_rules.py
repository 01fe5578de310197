"""The per-practice circuit breaker and rate limit, as pure rules over a given clock."""

from datetime import UTC, datetime, timedelta

from gateway.domain.isolation import (
    Breaker,
    BreakerPolicy,
    PublishAllowance,
    admit,
    publish_allowance,
    record_failure,
    record_success,
    take_token,
)

POLICY = BreakerPolicy(failure_threshold=3, open_seconds=60, probe_lease_seconds=30)
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_breaker_opens_after_n_consecutive_failures() -> None:
    breaker = Breaker()
    for n in range(1, 3):
        breaker = record_failure(breaker, POLICY, now=T0)
        assert (breaker.state, breaker.failures) == ("closed", n)
        assert admit(breaker, POLICY, now=T0).allowed
    breaker = record_failure(breaker, POLICY, now=T0)
    assert breaker.state == "open"
    refused = admit(breaker, POLICY, now=_after(59))
    assert not refused.allowed
    assert refused.retry_at == _after(60)


def test_a_success_resets_the_count() -> None:
    breaker = record_failure(record_failure(Breaker(), POLICY, now=T0), POLICY, now=T0)
    breaker = record_success(breaker)
    assert record_failure(breaker, POLICY, now=T0).state == "closed"


def test_after_the_open_period_one_probe_goes_and_decides() -> None:
    opened = Breaker(state="open", failures=3, opened_at=T0)
    probe = admit(opened, POLICY, now=_after(60))
    assert probe.allowed
    assert probe.breaker.state == "half-open"
    # While the probe is out, nobody else goes.
    waiting = admit(probe.breaker, POLICY, now=_after(61))
    assert not waiting.allowed
    assert waiting.retry_at == _after(90)
    # The probe succeeds: closed again. Or fails: open for another period.
    assert record_success(probe.breaker).state == "closed"
    reopened = record_failure(probe.breaker, POLICY, now=_after(65))
    assert reopened.state == "open"
    assert not admit(reopened, POLICY, now=_after(124)).allowed
    assert admit(reopened, POLICY, now=_after(125)).allowed


def test_a_lost_probe_is_given_up_after_its_lease() -> None:
    probe = admit(Breaker(state="open", failures=3, opened_at=T0), POLICY, now=_after(60))
    assert admit(probe.breaker, POLICY, now=_after(91)).allowed


def test_the_rate_limit_allows_a_minutes_allowance_then_spaces_calls() -> None:
    bucket = None
    for _ in range(6):
        take = take_token(bucket, per_minute=6, now=T0)
        assert take.allowed
        bucket = take.bucket
    refused = take_token(bucket, per_minute=6, now=T0)
    assert not refused.allowed
    assert refused.retry_at == _after(10)  # one call every 10 s at 6 a minute
    assert take_token(refused.bucket, per_minute=6, now=_after(10)).allowed


def test_no_rate_limit_always_allows() -> None:
    assert all(take_token(None, per_minute=None, now=T0).allowed for _ in range(1000))


def test_only_what_the_breaker_would_let_through_is_published() -> None:
    # Closed: everything goes to the workers; the gate paces it.
    assert publish_allowance(Breaker(), POLICY, now=T0) == PublishAllowance(None)
    opened = Breaker(state="open", failures=3, opened_at=T0)
    # Open: nothing, until the open period ends.
    assert publish_allowance(opened, POLICY, now=_after(10)) == PublishAllowance(0, _after(60))
    # Then one: the probe.
    assert publish_allowance(opened, POLICY, now=_after(60)) == PublishAllowance(1)
    # While a probe is out, nothing more.
    probing = admit(opened, POLICY, now=_after(60)).breaker
    assert publish_allowance(probing, POLICY, now=_after(61)) == PublishAllowance(0, _after(90))
