"""All configuration, read once from the environment (prefix LIAISON_).

The defaults give the embedded profile: SQLite files and the kombu SQLAlchemy
transport, the GP simulator and local sinks on loopback. Setting
LIAISON_DATABASE_URL and LIAISON_BROKER_URL selects the services profile.
"""

import os
import re
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.address_policy import split_host_port
from adapters.gp_system import AdapterKind
from fhir_profiles.canonical import DEVELOPMENT_CANONICAL_BASE, checked_canonical_base
from gateway.domain.practice_endpoints import endpoint_problem, is_practice_secret_reference
from gateway.notify_template_settings import NotifyTemplates
from gateway.reminder_settings import ReminderDefaults

# Dev-only secrets: usable on a laptop, refused when LIAISON_ENVIRONMENT=production.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-0123456789abcdef"
DEV_NOTIFY_SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
DEV_NOTIFY_SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
DEV_NOTIFY_API_KEY = f"liaison-dev-{DEV_NOTIFY_SERVICE_ID}-{DEV_NOTIFY_SECRET}"
DEV_CALLBACK_SECRET = "dev-only-callback-secret"
# Settings whose names say they hold a secret: refused at their default in production.
_SECRET_NAME = re.compile(r"(secret|password|api_key|shared_key|private_key)")
# The shortest signing key or bearer token production accepts: 32 characters, at least the
# 256-bit key RFC 7518 section 3.2 requires for HS256.
MIN_SECRET_LENGTH = 32


class AdapterRetry(BaseModel):
    """One adapter kind's retry policy; a field left out takes the global default
    (`retry_*_seconds`). MESH, for one, is store-and-forward: its mailbox already holds a
    message for days, so a deployment may give it a slower backoff than a FHIR endpoint."""

    model_config = ConfigDict(extra="forbid")

    base_seconds: float | None = Field(default=None, gt=0)
    cap_seconds: float | None = Field(default=None, gt=0)
    budget_seconds: float | None = Field(default=None, gt=0)
    # Tenacity, in the worker, for a call that failed fast (FHIR adapters): calls in all, and
    # the longest wait between two.
    short_attempts: int | None = Field(default=None, ge=1, le=10)
    short_max_wait_seconds: float | None = Field(default=None, ge=0, le=60)


class Settings(NotifyTemplates, BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIAISON_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path(".liaison")
    database_url: str = "sqlite:///.liaison/liaison.db"
    broker_url: str = "sqla+sqlite:///.liaison/broker.db"
    secret_key: str = DEV_SECRET_KEY
    token_ttl_seconds: int = 3600
    # The development demo client, registered by `liaison migrate` in development only.
    demo_client_id: str = "demo-app"
    demo_client_ods: str = "RX3"
    # Access tokens are HS256 JWTs signed with secret_key; tokens signed with a previous key
    # stay valid during a rotation. The `kid` header says which key signed.
    previous_secret_keys: list[str] = []
    # Lifetime of access tokens from POST /oauth2/token (NHS England's are just under 10 min).
    access_token_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    # Per-client request budget (token bucket; 0 = off) and per-address token endpoint budget.
    client_rate_limit_per_minute: int = Field(default=6000, ge=0)
    token_rate_limit_per_minute: int = Field(default=120, ge=0)
    # Practice inbox sign-in attempts per client address per minute (on top of the
    # per-account lockout), so one address cannot try many accounts quickly.
    inbox_sign_in_rate_limit_per_minute: int = Field(default=20, ge=0)
    # Browser origins allowed to call the API; empty = no CORS headers at all.
    cors_allow_origins: list[str] = []
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # API processes `liaison api` starts on the one port (uvicorn's workers). Each keeps its
    # own per-client rate-limit buckets, so a client's budget is per process (docs/DEPLOYMENT.md).
    api_workers: int = Field(default=1, ge=1, le=32)
    # Celery's task-sent event: one more broker round trip for every task published, read only
    # by a monitor that wants to see tasks before a worker takes them (Flower still sees every
    # task from the workers' own received/started/succeeded events). Off unless asked for.
    task_sent_events: bool = False
    public_base_url: str = "http://127.0.0.1:8000"
    # The canonical base of Liaison's profiles, code systems and identifier systems, on a
    # domain the deployment owns: `<public base URL>/fhir` makes each definition resolve to
    # what /fhir/StructureDefinition serves. fhir_profiles.canonical reads the same variable
    # (every process of a deployment must see one value); never change it once resources have
    # been sent, since receivers match Liaison's identifiers by system. Production refuses
    # the development default.
    fhir_canonical_base: str = DEVELOPMENT_CANONICAL_BASE
    # The official UK Core R4 package folder (HL7 UK / NHS England, UKCore.R4.STU.02.00.00:
    # structuredefinitions/, valuesets/, codesystems/, published in the public repository
    # github.com/NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN) that `liaison ukcore check` reads.
    # No default: the package is not shipped with Liaison, so a deployment names its copy.
    ukcore_dir: Path | None = None
    # `liaison fhir-package`'s package/ folder: /fhir serves the profiles with its snapshots.
    fhir_package_dir: Path | None = None
    max_body_bytes: int = 64 * 1024

    practice_directory: Path | None = None
    # Hosts a practice's FHIR base URL and SMART token URL may name (`gp.example.nhs.uk`, or
    # `*.example.nhs.uk` for its subdomains), as JSON; empty: any host (https in production).
    gp_allowed_hosts: list[str] = []
    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8001
    simulator_step_seconds: float = 3.0

    # Delivery and polling.
    poll_interval_seconds: float = 1.0
    relay_interval_seconds: float = 0.5
    retry_base_seconds: float = 5.0
    retry_cap_seconds: float = 3600.0
    retry_budget_seconds: float = 72 * 3600.0
    # Per adapter kind, as JSON: LIAISON_RETRY_POLICIES='{"mesh": {"base_seconds": 300}}'.
    retry_policies: dict[AdapterKind, AdapterRetry] = {}
    delivery_lease_seconds: float = 120.0
    http_timeout_seconds: float = 10.0

    # Notifications.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_from: str = "liaison@example.nhs.uk"
    mail_view_port: int = 8026
    notify_base_url: str = "http://127.0.0.1:8027"
    notify_api_key: str = DEV_NOTIFY_API_KEY
    notify_sms_template_id: str = "f33517ff-2a88-4f6e-b855-c550268ce08a"
    notify_email_template_id: str = "a26b7c7d-4b7f-4a89-9c3e-2f3e3b1c6d11"
    # Who hears what, when (gateway.domain.audience). Quiet hours are UK local time; equal
    # start and end switch them off.
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    digest_hour: int = Field(default=16, ge=0, le=23)  # practitioners' daily digest, UK time
    digest_check_seconds: float = 60.0
    # Collection reminders: the k-th goes k intervals after ready-to-collect, up to the limit.
    collection_reminder_after_seconds: float = Field(default=3 * 86400.0, gt=0)
    collection_reminder_limit: int = Field(default=2, ge=0)
    reminder_check_seconds: float = 60.0
    # A practitioner is prompted to try again this long after a recommendation ended without
    # a prescription (rejected, expired, did-not-attend): gateway.domain.reminder_schedule.
    try_again_prompt_after_seconds: float = Field(default=14 * 86400.0, gt=0)
    reminders: ReminderDefaults = ReminderDefaults()
    # Uncollected this long (or a practice silent through every chase-up): "expired".
    expire_uncollected_after_seconds: float = Field(default=28 * 86400.0, gt=0)
    # Chase-ups: the first after the practice's own chase_after_days, then every M working
    # days, at most `chase_up_limit` times.
    chase_again_after_days: int = Field(default=2, ge=1)
    chase_up_limit: int = Field(default=3, ge=0)
    chase_check_seconds: float = 60.0
    # Test knob: a "working day" of this many seconds, no calendar (unset in real use).
    working_day_seconds: float | None = Field(default=None, gt=0)
    # Signed webhooks to case-management apps.
    webhook_timeout_seconds: float = 10.0
    # Webhooks reach public internet addresses only; these JSON-listed `host` or `host:port`
    # entries are the only exceptions (tests, local development), in every environment:
    # LIAISON_WEBHOOK_ALLOWED_HOSTS='["127.0.0.1:9000", "hooks.internal"]'.
    webhook_allowed_hosts: list[str] = []

    worker_pool: Literal["prefork", "threads", "solo"] = "prefork"
    worker_concurrency: int = Field(default=4, ge=1)

    # GP adapters: Liaison's own MESH mailbox (unset URL: no practice can use MESH).
    mesh_url: str | None = None
    mesh_mailbox: str | None = None
    mesh_password: str | None = None
    mesh_shared_key: str | None = None
    mesh_client_cert: Path | None = None  # production MESH is mutual TLS
    mesh_client_key: Path | None = None
    mesh_ca_cert: Path | None = None
    mesh_verify_tls: bool = True
    mesh_poll_interval_seconds: float = 300.0  # MESH asks clients to poll about every 5 min
    mesh_tracking_interval_seconds: float = 300.0
    mesh_handshake_interval_seconds: float = 24 * 3600.0
    # GP Connect Send Document over MESH: a request is "delivered" when the practice's
    # ITK3 business response says its workflow filed it; with no response this long after
    # MESH accepted it, the delivery is dead-lettered (and the practitioner told).
    mesh_response_timeout_seconds: float = Field(default=2 * 24 * 3600.0, gt=0)
    # Local stand-ins `liaison dev` starts when mesh-sandbox is installed and LIAISON_MESH_URL
    # is unset: mesh-sandbox, and a simulated practice answering with ITK3 responses.
    mesh_sandbox_port: int = 8030
    # The organisation that sends the letters (CareConnect-Organization-1 in the document,
    # GP Connect Send Document requirement GPCM-SD-028): the trust's ODS code, name and a
    # telephone number the practice can call. The defaults are for demonstration only: the
    # number is in Ofcom's range kept for drama (020 7946 0000 to 0999), the code unassigned.
    sender_ods_code: str = Field(default="X26", pattern=r"^[A-Z0-9]{3,10}$")
    sender_name: str = Field(default="Demonstration Mental Health Trust", min_length=1)
    sender_telephone: str = Field(default="020 7946 0000", min_length=1)
    # TrueType fonts the Send Document letter embeds so every name prints as written: a
    # folder holding DejaVuSans.ttf and DejaVuSans-Bold.ttf (Debian's fonts-dejavu-core puts
    # them here). When they are missing the letter falls back to the standard PDF fonts,
    # which fold text outside Latin-1 (and the worker warns at start).
    letter_font_dir: Path = Path("/usr/share/fonts/truetype/dejavu")
    # The registered practice from PDS (adapters.pds) and the practice's state from ODS
    # (adapters.ods); docs/PDS_ODS.md. `pds_base_url` alone: a server that needs no token
    # (NHS England's sandbox, the local stand-in), refused in production. With the token
    # settings: application-restricted access (a signed JWT to the platform's token URL).
    # pds_mode "off": no PDS at all, the practitioner's ODS code is trusted (a deployment
    # not yet onboarded); it must be chosen explicitly in production.
    pds_mode: Literal["on", "off"] = "on"
    pds_base_url: str | None = None
    pds_token_url: str | None = None
    pds_api_key: str | None = None
    pds_private_key_path: Path | None = None
    pds_key_id: str | None = None
    # PDS unreachable: the delivery waits this long at first, doubling up to the cap.
    pds_retry_base_seconds: float = Field(default=5.0, gt=0)
    pds_retry_cap_seconds: float = Field(default=300.0, gt=0)
    # The ORD API's base, e.g. https://directory.spineservices.nhs.uk/ORD/2-0-0 (open data;
    # unset: practices are not checked with ODS). Answers are cached this long.
    ods_base_url: str | None = None
    ods_cache_seconds: float = Field(default=6 * 3600.0, ge=0)
    # Where `liaison dev` runs the local PDS and ODS stand-ins when neither URL is set.
    pds_standin_port: int = 8028
    ods_standin_port: int = 8029
    # GP Connect Appointment Management (gateway.services.booking): Liaison's ASID on Spine, the
    # Spine Secure Proxy to go through (unset: the practice's endpoint directly, as with the
    # simulator), how often booked appointments that have ended are read for attendance.
    gpconnect_consumer_asid: str = Field(default="200000000359", pattern=r"^[0-9]{1,20}$")
    gpconnect_ssp_url: str | None = Field(default=None, pattern=r"^https?://")
    gpconnect_attendance_check_seconds: float = Field(default=60.0, gt=0)
    # Per-practice isolation: circuit breaker, concurrency and rate limit.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_open_seconds: float = Field(default=60.0, gt=0)
    # Deliveries one practice may have in flight at once: fewer than the workers, so a slow
    # practice can never occupy them all (a delivery over the limit waits for the sweep).
    practice_max_in_flight: int = Field(default=4, ge=1)
    # Signed GP callbacks: how far a signature's timestamp may be from now.
    callback_tolerance_seconds: float = 300.0
    # Practice inbox sign-in.
    inbox_session_max_age_seconds: int = 8 * 3600
    inbox_secure_cookies: bool = False  # True behind HTTPS
    # Integration engineers' console (gateway.api.web.console): server-side sessions.
    console_session_max_age_seconds: int = Field(default=8 * 3600, ge=60)
    # Metrics (gateway.metrics): the directory the processes of one machine share for
    # prometheus-client's multiprocess mode (unset: <data_dir>/metrics), and a fixed bearer
    # token Prometheus may scrape /metrics with (an ops access token works too).
    metrics_dir: Path | None = None
    metrics_token: str | None = None
    # Alerts (gateway.services.alerts), checked by beat and sent to the engineers' channel.
    alert_email: str | None = None
    alert_webhook_url: str | None = None
    alert_webhook_secret: str | None = None  # signs the webhook; unset: derived from secret_key
    alert_check_seconds: float = Field(default=30.0, gt=0)
    alert_dead_letter_threshold: int = Field(default=1, ge=1)  # per practice, last hour
    alert_circuit_open_minutes: float = Field(default=15.0, ge=0)
    alert_outbox_lag_seconds: float = Field(default=120.0, gt=0)

    @field_validator("fhir_canonical_base")
    @classmethod
    def _canonical_base(cls, value: str) -> str:
        return checked_canonical_base(value)

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _host_or_host_port(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            split_host_port(entry)  # ValueError names the entry
        return entries

    def adapter_retry(self, adapter: str) -> AdapterRetry:
        """What LIAISON_RETRY_POLICIES sets for this adapter kind (all None when nothing)."""
        for kind, policy in self.retry_policies.items():
            if kind == adapter:
                return policy
        return AdapterRetry()

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            unsafe = [
                name
                for name, value, dev in (
                    ("LIAISON_SECRET_KEY", self.secret_key, DEV_SECRET_KEY),
                    ("LIAISON_NOTIFY_API_KEY", self.notify_api_key, DEV_NOTIFY_API_KEY),
                )
                if value == dev
            ]
            # Any secret-looking setting still at its development default, including ones
            # added later, and any setting holding a known dev secret under another name.
            dev_values = {
                DEV_SECRET_KEY,
                DEV_NOTIFY_API_KEY,
                DEV_NOTIFY_SECRET,
                DEV_CALLBACK_SECRET,
            }
            for name, spec in type(self).model_fields.items():
                value = getattr(self, name)
                values = value if isinstance(value, list) else [value]
                env_name = f"LIAISON_{name.upper()}"
                if env_name in unsafe:
                    continue
                if any(isinstance(v, str) and v in dev_values for v in values) or (
                    _SECRET_NAME.search(name)
                    and isinstance(spec.default, str)
                    and spec.default
                    and value == spec.default
                ):
                    unsafe.append(env_name)
            unsafe += self._unsafe_pds_settings()
            if len(self.secret_key) < MIN_SECRET_LENGTH:
                unsafe.append(f"LIAISON_SECRET_KEY (shorter than {MIN_SECRET_LENGTH} characters)")
            if unsafe:
                raise ValueError(f"refusing to start in production with dev secrets: {unsafe}")
        return self

    @model_validator(mode="after")
    def _refuse_weak_settings_in_production(self) -> "Settings":
        if self.environment != "production":
            return self
        weak = [f"{name} ({why})" for name, why in self._weaknesses()]
        if weak:
            raise ValueError(f"refusing to start in production with weak settings: {weak}")
        return self

    def _weaknesses(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        short = f"shorter than {MIN_SECRET_LENGTH} characters"
        if any(len(key) < MIN_SECRET_LENGTH for key in self.previous_secret_keys):
            found.append(("LIAISON_PREVIOUS_SECRET_KEYS", f"a retired key is {short}"))
        if self.metrics_token is not None and len(self.metrics_token) < MIN_SECRET_LENGTH:
            found.append(("LIAISON_METRICS_TOKEN", short))
        if not self.mesh_verify_tls:
            found.append(("LIAISON_MESH_VERIFY_TLS", "must be true: MESH is reached over TLS"))
        if not self.public_base_url.startswith("https://"):
            found.append(("LIAISON_PUBLIC_BASE_URL", "must be an https URL"))
        if self.mesh_url and not all(
            self.is_configured(name) for name in ("sender_ods_code", "sender_telephone")
        ):
            # A practice must know who sent the letter and whom to call back.
            found.append(("LIAISON_SENDER_ODS_CODE", "set the trust's own ODS code and telephone"))
        if self.mesh_url and not all(
            (self.letter_font_dir / name).is_file()
            for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
        ):
            # Without them a name outside Latin-1 is folded on the letter the practice files.
            found.append(("LIAISON_LETTER_FONT_DIR", "install fonts-dejavu-core or name a folder"))
        if self.fhir_canonical_base == DEVELOPMENT_CANONICAL_BASE:
            found.append(("LIAISON_FHIR_CANONICAL_BASE", "set the deployment's own base"))
        elif not self.fhir_canonical_base.startswith("https://"):
            found.append(("LIAISON_FHIR_CANONICAL_BASE", "must be an https URL"))
        if any("*" in origin or origin == "null" for origin in self.cors_allow_origins):
            found.append(("LIAISON_CORS_ALLOW_ORIGINS", "name each origin; * or null lets any"))
        for name, limit in (
            ("LIAISON_CLIENT_RATE_LIMIT_PER_MINUTE", self.client_rate_limit_per_minute),
            ("LIAISON_TOKEN_RATE_LIMIT_PER_MINUTE", self.token_rate_limit_per_minute),
            (
                "LIAISON_INBOX_SIGN_IN_RATE_LIMIT_PER_MINUTE",
                self.inbox_sign_in_rate_limit_per_minute,
            ),
        ):
            if limit == 0:
                found.append((name, "0 switches the limit off"))
        return found

    def is_configured(self, *names: str) -> bool:
        """Whether any of these settings was given (environment or arguments) rather than
        left at its default: `liaison dev` then uses that real service, not a stand-in."""
        return any(name in self.model_fields_set for name in names)

    def _unsafe_pds_settings(self) -> list[str]:
        """In production PDS is either off by choice or reached with application-restricted
        access: never the tokenless sandbox mode, never silently unconfigured."""
        if self.pds_mode == "off":
            return []
        needed = {
            "LIAISON_PDS_BASE_URL": self.pds_base_url,
            "LIAISON_PDS_TOKEN_URL": self.pds_token_url,
            "LIAISON_PDS_API_KEY": self.pds_api_key,
            "LIAISON_PDS_PRIVATE_KEY_PATH": self.pds_private_key_path,
            "LIAISON_PDS_KEY_ID": self.pds_key_id,
        }
        missing = [name for name, value in needed.items() if not value]
        return [f"{name} (unset: set it, or LIAISON_PDS_MODE=off)" for name in missing]

    @property
    def pds_enabled(self) -> bool:
        """Whether the worker routes by the practice PDS names."""
        return self.pds_mode == "on" and self.pds_base_url is not None

    def practice_secret(self, reference: str | None) -> str | None:
        """A practice credential named by reference (an environment variable's name) in the
        practice directory; the directory and the database never hold the secret itself.
        Only the reserved namespace is read, whatever the database holds (an entry written
        before the namespace existed, or by hand), so no other variable can be sent out."""
        if not reference or not is_practice_secret_reference(reference):
            return None
        return os.environ.get(reference) or None

    def practice_endpoint_problem(self, url: str) -> str | None:
        """Why a practice's requests may not go to `url` (https in production; the allow-list
        LIAISON_GP_ALLOWED_HOSTS when set), or None."""
        return endpoint_problem(
            url,
            require_https=self.environment == "production",
            allowed_hosts=self.gp_allowed_hosts,
        )

    @property
    def token_endpoint_url(self) -> str:
        """The `aud` every client assertion must carry."""
        return f"{self.public_base_url.rstrip('/')}/oauth2/token"

    @property
    def metrics_path(self) -> Path:
        return self.metrics_dir or self.data_dir / "metrics"

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def pds_standin_url(self) -> str:
        return f"http://127.0.0.1:{self.pds_standin_port}/personal-demographics/FHIR/R4"

    @property
    def ods_standin_url(self) -> str:
        return f"http://127.0.0.1:{self.ods_standin_port}/ORD/2-0-0"

    @property
    def simulator_base_url(self) -> str:
        return f"http://{self.simulator_host}:{self.simulator_port}/fhir"

    def simulator_gpconnect_url(self, ods_code: str) -> str:
        """The simulator's GP Connect service root for one practice."""
        return f"http://{self.simulator_host}:{self.simulator_port}/gpconnect/{ods_code}/STU3/1"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
