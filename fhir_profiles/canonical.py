"""Liaison's canonical base: the URL its profiles, code systems, value sets and identifier
systems hang off (LIAISON_FHIR__CANONICAL_BASE).

A canonical URL names a definition for as long as it exists, so it belongs to the deployment
that publishes the definitions, on a domain that deployment controls; FHIR R4 asks that it
resolve to the definition (https://hl7.org/fhir/R4/resource.html#canonical), which Liaison's
own `/fhir/StructureDefinition` does when the base is `<public base URL>/fhir`. The default
is the development gateway's own `/fhir` (`liaison dev` on 127.0.0.1:8000); production refuses
it (gateway.settings). It is read once, from the environment, when this module is first used,
so every process of a deployment must be given the same value, and it must never change once
resources have been sent: receivers match Liaison's identifiers by system.

The definition files under `definitions/` are written with the placeholder `{canonical}`,
replaced by the configured base as they are loaded.
"""

from functools import cache
from typing import Final
from urllib.parse import urlsplit

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_CANONICAL_BASE: Final = "http://127.0.0.1:8000/fhir"
PLACEHOLDER: Final = "{canonical}"


def checked_canonical_base(value: str) -> str:
    """`value` without a trailing slash, or ValueError when it cannot be a canonical base:
    an absolute http(s) URL with no query, fragment or `|` (which separates a canonical's
    version, https://hl7.org/fhir/R4/references.html#canonical)."""
    base = value.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http or https URL")
    if parts.query or parts.fragment or "|" in base or "{" in base or " " in base:
        raise ValueError("must have no query, fragment, '|', '{' or space")
    return base


class CanonicalSettings(BaseSettings):
    # The same variable as gateway.settings' `fhir.canonical_base` group field.
    model_config = SettingsConfigDict(env_prefix="LIAISON_FHIR__", extra="ignore")

    canonical_base: str = DEVELOPMENT_CANONICAL_BASE

    @field_validator("canonical_base")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return checked_canonical_base(value)


@cache
def canonical_base() -> str:
    """The configured canonical base, e.g. `https://liaison.trust.nhs.uk/fhir`."""
    return CanonicalSettings().canonical_base


def with_canonical(text: str) -> str:
    """A definition file's text with the placeholder replaced by the canonical base."""
    return text.replace(PLACEHOLDER, canonical_base())
