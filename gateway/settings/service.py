"""Liaison's own processes: the API (`LIAISON_API__*`), signing and sessions
(`LIAISON_SECURITY__*`, `LIAISON_SESSIONS__*`), the database and broker
(`LIAISON_DATABASE__URL`, `LIAISON_BROKER__*`), the workers (`LIAISON_WORKER__*`), metrics
(`LIAISON_METRICS__*`) and the FHIR definitions served (`LIAISON_FHIR__*`)."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fhir_profiles.canonical import DEVELOPMENT_CANONICAL_BASE, checked_canonical_base

# Dev-only secret: usable on a laptop, refused when LIAISON_ENVIRONMENT=production.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-0123456789abcdef"


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8000
    # API processes `liaison api` starts on the one port, each on a socket of its own
    # (gateway/api_processes.py). Each keeps its own per-client rate-limit buckets, so a
    # client's budget is per process (docs/DEPLOYMENT.md).
    workers: int = Field(default=1, ge=1, le=32)
    public_base_url: str = "http://127.0.0.1:8000"
    # Browser origins allowed to call the API; empty = no CORS headers at all.
    cors_allow_origins: list[str] = []
    max_body_bytes: int = 64 * 1024
    # Per-client request budget (token bucket; 0 = off) and per-address token endpoint budget.
    client_rate_limit_per_minute: int = Field(default=6000, ge=0)
    token_rate_limit_per_minute: int = Field(default=120, ge=0)
    # Practice inbox sign-in attempts per client address per minute (on top of the
    # per-account lockout), so one address cannot try many accounts quickly.
    inbox_sign_in_rate_limit_per_minute: int = Field(default=20, ge=0)

    @property
    def token_endpoint_url(self) -> str:
        """The `aud` every client assertion must carry."""
        return f"{self.public_base_url.rstrip('/')}/oauth2/token"


class SecuritySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Access tokens are HS256 JWTs signed with secret_key; tokens signed with a previous key
    # stay valid during a rotation. The `kid` header says which key signed.
    secret_key: str = DEV_SECRET_KEY
    previous_secret_keys: list[str] = []
    # Tokens `liaison token` issues directly.
    token_ttl_seconds: int = 3600
    # Lifetime of access tokens from POST /oauth2/token (NHS England's are just under 10 min).
    access_token_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    # Signed GP callbacks: how far a signature's timestamp may be from now.
    callback_tolerance_seconds: float = 300.0


class SessionSettings(BaseModel):
    """Browser sessions: the practice inbox and the integration engineers' console
    (gateway.api.web.console), both server-side."""

    model_config = ConfigDict(extra="forbid")

    inbox_max_age_seconds: int = 8 * 3600
    inbox_secure_cookies: bool = False  # True behind HTTPS
    console_max_age_seconds: int = Field(default=8 * 3600, ge=60)


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///.liaison/liaison.db"


class BrokerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = "sqla+sqlite:///.liaison/broker.db"
    # Celery's task-sent event: one more broker round trip for every task published, read only
    # by a monitor that wants to see tasks before a worker takes them (Flower still sees every
    # task from the workers' own received/started/succeeded events). Off unless asked for.
    task_sent_events: bool = False


class WorkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: Literal["prefork", "threads", "solo"] = "prefork"
    concurrency: int = Field(default=4, ge=1)


class MetricsSettings(BaseModel):
    """Metrics (gateway.metrics): the directory the processes of one machine share for
    prometheus-client's multiprocess mode (unset: <data_dir>/metrics), and a fixed bearer
    token Prometheus may scrape /metrics with (an ops access token works too)."""

    model_config = ConfigDict(extra="forbid")

    dir: Path | None = None
    token: str | None = None


class FhirSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The canonical base of Liaison's profiles, code systems and identifier systems, on a
    # domain the deployment owns: `<public base URL>/fhir` makes each definition resolve to
    # what /fhir/StructureDefinition serves. fhir_profiles.canonical reads the same variable
    # (every process of a deployment must see one value); never change it once resources have
    # been sent, since receivers match Liaison's identifiers by system. Production refuses
    # the development default.
    canonical_base: str = DEVELOPMENT_CANONICAL_BASE
    # The official UK Core R4 package folder (HL7 UK / NHS England, UKCore.R4.STU.02.00.00:
    # structuredefinitions/, valuesets/, codesystems/, published in the public repository
    # github.com/NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN) that `liaison ukcore check` reads.
    # No default: the package is not shipped with Liaison, so a deployment names its copy.
    ukcore_dir: Path | None = None
    # `liaison fhir-package`'s package/ folder: /fhir serves the profiles with its snapshots.
    package_dir: Path | None = None

    @field_validator("canonical_base")
    @classmethod
    def _canonical_base(cls, value: str) -> str:
        return checked_canonical_base(value)
