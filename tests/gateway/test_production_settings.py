"""Production refuses to start with a weak setting, naming it: a retired signing key or a
metrics token anyone could guess, MESH without certificate checks, a public address that is
not https, CORS open to every site, a rate limit switched off."""

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.settings import (
    ApiSettings,
    FhirSettings,
    LetterSettings,
    MeshSettings,
    MetricsSettings,
    NotifySettings,
    PdsSettings,
    SecuritySettings,
    Settings,
)
from tests.settings_support import merged

# A production configuration that starts: the refusals below each change one setting.
STRONG: dict[str, Any] = {
    "environment": "production",
    "security": SecuritySettings(secret_key="s" * 48),
    "notify": NotifySettings(api_key="live-" + "n" * 40),
    "api": ApiSettings(public_base_url="https://liaison.example.nhs.uk"),
    "fhir": FhirSettings(canonical_base="https://liaison.example.nhs.uk/fhir"),
    # Not yet onboarded to PDS: an explicit choice production accepts.
    "pds": PdsSettings(mode="off"),
}


def test_a_strong_production_configuration_starts() -> None:
    settings = Settings(
        **merged(
            STRONG,
            {
                "security": SecuritySettings(previous_secret_keys=["r" * 32]),
                "metrics": MetricsSettings(token="m" * 32),
                "api": ApiSettings(cors_allow_origins=["https://app.example.nhs.uk"]),
            },
        )
    )
    assert settings.environment == "production"


@pytest.mark.parametrize(
    ("weak", "setting"),
    [
        (
            {"security": SecuritySettings(previous_secret_keys=["r" * 48, "short-retired-key"])},
            "LIAISON_SECURITY__PREVIOUS_SECRET_KEYS",
        ),
        ({"metrics": MetricsSettings(token="x")}, "LIAISON_METRICS__TOKEN"),
        ({"metrics": MetricsSettings(token="m" * 31)}, "LIAISON_METRICS__TOKEN"),
        ({"mesh": MeshSettings(verify_tls=False)}, "LIAISON_MESH__VERIFY_TLS"),
        (
            {"api": ApiSettings(public_base_url="http://liaison.example.nhs.uk")},
            "LIAISON_API__PUBLIC_BASE_URL",
        ),
        (
            {"fhir": FhirSettings(canonical_base="http://127.0.0.1:8000/fhir")},
            "LIAISON_FHIR__CANONICAL_BASE",
        ),
        (
            {"fhir": FhirSettings(canonical_base="http://liaison.example.nhs.uk/fhir")},
            "LIAISON_FHIR__CANONICAL_BASE",
        ),
        ({"api": ApiSettings(cors_allow_origins=["*"])}, "LIAISON_API__CORS_ALLOW_ORIGINS"),
        (
            {"api": ApiSettings(cors_allow_origins=["https://a.example", "null"])},
            "LIAISON_API__CORS_ALLOW_ORIGINS",
        ),
        (
            {"api": ApiSettings(client_rate_limit_per_minute=0)},
            "LIAISON_API__CLIENT_RATE_LIMIT_PER_MINUTE",
        ),
        (
            {"api": ApiSettings(token_rate_limit_per_minute=0)},
            "LIAISON_API__TOKEN_RATE_LIMIT_PER_MINUTE",
        ),
        # Letters to practices over MESH would name the demonstration trust as their sender.
        (
            {"mesh": MeshSettings(url="https://mesh.example.nhs.uk")},
            "LIAISON_LETTER__SENDER_ODS_CODE",
        ),
        # ... or the trust's code without a number the practice can call back.
        (
            {
                "mesh": MeshSettings(url="https://mesh.example.nhs.uk"),
                "letter": LetterSettings(sender_ods_code="X27"),
            },
            "LIAISON_LETTER__SENDER_ODS_CODE",
        ),
        # ... and fold a name outside Latin-1 on the letter the practice files.
        (
            {
                "mesh": MeshSettings(url="https://mesh.example.nhs.uk"),
                "letter": LetterSettings(font_dir="/nonexistent"),
            },
            "LIAISON_LETTER__FONT_DIR",
        ),
    ],
)
def test_production_refuses_a_weak_setting_naming_it(weak: dict[str, Any], setting: str) -> None:
    with pytest.raises(ValidationError, match="weak settings") as refused:
        Settings(**merged(STRONG, weak))
    assert setting in str(refused.value)
    # The message names the setting, never its value.
    for group in weak.values():
        for value in group.model_dump(exclude_unset=True).values():
            if isinstance(value, str) and len(value) > 1 and not value.startswith("http"):
                assert value not in str(refused.value)


def test_every_weakness_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(
            **merged(
                STRONG,
                {
                    "mesh": MeshSettings(verify_tls=False),
                    "metrics": MetricsSettings(token="x"),
                    "api": ApiSettings(cors_allow_origins=["*"]),
                },
            )
        )
    message = str(refused.value)
    for setting in (
        "LIAISON_MESH__VERIFY_TLS",
        "LIAISON_METRICS__TOKEN",
        "LIAISON_API__CORS_ALLOW_ORIGINS",
    ):
        assert setting in message


def test_development_keeps_its_convenient_settings() -> None:
    settings = Settings(
        mesh=MeshSettings(verify_tls=False),
        metrics=MetricsSettings(token="x"),
        api=ApiSettings(client_rate_limit_per_minute=0),
    )
    assert settings.api.public_base_url.startswith("http://")


def test_production_over_mesh_starts_once_the_trust_is_named() -> None:
    settings = Settings(
        **STRONG,
        mesh=MeshSettings(url="https://mesh.example.nhs.uk"),
        letter=LetterSettings(
            sender_ods_code="X27",
            sender_name="Example Mental Health NHS Trust",
            sender_telephone="020 7946 0999",  # Ofcom drama range
        ),
    )
    assert settings.letter.sender_ods_code == "X27"


@pytest.mark.parametrize(
    "base", ["liaison.example.nhs.uk/fhir", "https://x.nhs.uk/fhir?v=1", "https://x.nhs.uk/f|1"]
)
def test_a_canonical_base_that_cannot_name_definitions_is_refused(base: str) -> None:
    with pytest.raises(ValidationError, match="canonical_base"):
        Settings(fhir=FhirSettings(canonical_base=base))


def test_the_canonical_base_loses_a_trailing_slash() -> None:
    settings = Settings(fhir=FhirSettings(canonical_base="https://liaison.example.nhs.uk/fhir/"))
    assert settings.fhir.canonical_base == "https://liaison.example.nhs.uk/fhir"
