"""LIAISON_DELIVERY__RETRY_POLICIES: a retry policy per adapter kind, as JSON, checked at
start-up."""

import pytest
from pydantic import ValidationError

from gateway.settings import AdapterRetry, Settings


def test_a_policy_per_adapter_kind_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "LIAISON_DELIVERY__RETRY_POLICIES",
        '{"mesh": {"base_seconds": 300, "cap_seconds": 21600}, "fhir": {"short_attempts": 5}}',
    )
    settings = Settings()
    assert settings.delivery.adapter_retry("mesh") == AdapterRetry(
        base_seconds=300, cap_seconds=21600
    )
    assert settings.delivery.adapter_retry("fhir").short_attempts == 5
    assert settings.delivery.adapter_retry("inbox") == AdapterRetry()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"smoke-signal": {"base_seconds": 5}}', "smoke-signal"),
        ('{"mesh": {"base_seconds": -1}}', "base_seconds"),
        ('{"mesh": {"base_secs": 5}}', "base_secs"),
    ],
)
def test_a_mistyped_policy_stops_start_up_naming_the_problem(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("LIAISON_DELIVERY__RETRY_POLICIES", value)
    with pytest.raises(ValidationError, match=problem):
        Settings()
