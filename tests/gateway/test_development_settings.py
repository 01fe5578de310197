"""Settings come in groups (`LIAISON_<GROUP>__<FIELD>`); the knobs that only compress time or
point at local stand-ins live in the `development` group, which production refuses to take,
naming the variable; and a variable under its name from before the grouping stops the start
rather than being ignored."""

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.settings import (
    ApiSettings,
    DevelopmentSettings,
    FhirSettings,
    NotifySettings,
    PdsSettings,
    SecuritySettings,
    Settings,
)

STRONG: dict[str, Any] = {
    "environment": "production",
    "security": SecuritySettings(secret_key="s" * 48),
    "notify": NotifySettings(api_key="live-" + "n" * 40),
    "api": ApiSettings(public_base_url="https://liaison.example.nhs.uk"),
    "fhir": FhirSettings(canonical_base="https://liaison.example.nhs.uk/fhir"),
    "pds": PdsSettings(mode="off"),
}


def test_a_grouped_variable_sets_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_DATABASE__URL", "postgresql+psycopg://db.example/liaison")
    monkeypatch.setenv("LIAISON_MESH__VERIFY_TLS", "false")
    monkeypatch.setenv("LIAISON_NOTIFY__TEMPLATES__READY_TO_COLLECT_SMS", "tmpl-1")
    settings = Settings()
    assert settings.database.url == "postgresql+psycopg://db.example/liaison"
    assert settings.mesh.verify_tls is False
    assert settings.notify.templates.ready_to_collect_sms == "tmpl-1"
    assert settings.is_configured("mesh.verify_tls")
    assert not settings.is_configured("mesh.url", "email.smtp_host")


@pytest.mark.parametrize(
    ("knob", "variable"),
    [
        ({"working_day_seconds": 0.01}, "LIAISON_DEVELOPMENT__WORKING_DAY_SECONDS"),
        ({"simulator_port": 9001}, "LIAISON_DEVELOPMENT__SIMULATOR_PORT"),
        ({"demo_client_id": "backdoor"}, "LIAISON_DEVELOPMENT__DEMO_CLIENT_ID"),
        ({"pds_standin_port": 9028}, "LIAISON_DEVELOPMENT__PDS_STANDIN_PORT"),
    ],
)
def test_production_refuses_a_development_knob_naming_it(
    knob: dict[str, object], variable: str
) -> None:
    with pytest.raises(ValidationError, match="development-only settings") as refused:
        Settings(**STRONG, development=DevelopmentSettings.model_validate(knob))
    assert variable in str(refused.value)


def test_production_refuses_a_development_knob_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS", "0.1")
    with pytest.raises(ValidationError, match="LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS"):
        Settings(**STRONG)


def test_production_starts_with_the_development_group_at_its_defaults() -> None:
    assert Settings(**STRONG).development == DevelopmentSettings()


def test_development_takes_its_knobs() -> None:
    settings = Settings(development=DevelopmentSettings(working_day_seconds=0.01))
    assert settings.development.working_day_seconds == 0.01


def test_a_former_flat_variable_stops_the_start_naming_its_new_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ignored, it would leave the embedded SQLite database in place of the real one.
    monkeypatch.setenv("LIAISON_DATABASE_URL", "postgresql+psycopg://db.example/liaison")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "LIAISON_DATABASE_URL (now LIAISON_DATABASE__URL)" in str(refused.value)
    assert "db.example" not in str(refused.value)
