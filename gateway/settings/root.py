"""All configuration, read once from the environment (prefix LIAISON_), one group per
concern: `LIAISON_<GROUP>__<FIELD>`, e.g. `LIAISON_DATABASE__URL`, `LIAISON_MESH__MAILBOX`.

The defaults give the embedded profile: SQLite files and the kombu SQLAlchemy
transport, the GP simulator and local sinks on loopback. Setting
LIAISON_DATABASE__URL and LIAISON_BROKER__URL selects the services profile.
"""

import os
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fhir_profiles.canonical import DEVELOPMENT_CANONICAL_BASE
from gateway.domain.practice_endpoints import endpoint_problem, is_practice_secret_reference
from gateway.reminder_settings import ReminderDefaults
from gateway.settings.delivery import (
    DeliverySettings,
    GpConnectSettings,
    LetterSettings,
    MeshSettings,
)
from gateway.settings.development import DevelopmentSettings
from gateway.settings.follow_up import (
    AlertSettings,
    ChasingSettings,
    CollectionSettings,
    WebhookSettings,
)
from gateway.settings.former_names import FORMER_NAMES
from gateway.settings.notify import (
    DEV_NOTIFY_API_KEY,
    DEV_NOTIFY_SECRET,
    AudienceSettings,
    EmailSettings,
    NotifySettings,
)
from gateway.settings.registries import OdsSettings, PdsSettings
from gateway.settings.service import (
    DEV_SECRET_KEY,
    ApiSettings,
    BrokerSettings,
    DatabaseSettings,
    FhirSettings,
    MetricsSettings,
    SecuritySettings,
    SessionSettings,
    WorkerSettings,
)

DEV_CALLBACK_SECRET = "dev-only-callback-secret"
# Settings whose names say they hold a secret: refused at their default in production.
_SECRET_NAME = re.compile(r"(secret|password|api_key|shared_key|private_key)")
# The shortest signing key or bearer token production accepts: 32 characters, at least the
# 256-bit key RFC 7518 section 3.2 requires for HS256.
MIN_SECRET_LENGTH = 32
_DEV_VALUES = frozenset(
    {DEV_SECRET_KEY, DEV_NOTIFY_API_KEY, DEV_NOTIFY_SECRET, DEV_CALLBACK_SECRET}
)


def env_name(path: str) -> str:
    """The variable that sets a dotted setting: `mesh.verify_tls` -> LIAISON_MESH__VERIFY_TLS."""
    return "LIAISON_" + "__".join(path.split(".")).upper()


def _leaves(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, value, default) of every setting, into every group."""
    for name, spec in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value, spec.default


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIAISON_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path(".liaison")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    api: ApiSettings = ApiSettings()
    security: SecuritySettings = SecuritySettings()
    sessions: SessionSettings = SessionSettings()
    database: DatabaseSettings = DatabaseSettings()
    broker: BrokerSettings = BrokerSettings()
    worker: WorkerSettings = WorkerSettings()
    metrics: MetricsSettings = MetricsSettings()
    fhir: FhirSettings = FhirSettings()
    delivery: DeliverySettings = DeliverySettings()
    mesh: MeshSettings = MeshSettings()
    letter: LetterSettings = LetterSettings()
    gpconnect: GpConnectSettings = GpConnectSettings()
    pds: PdsSettings = PdsSettings()
    ods: OdsSettings = OdsSettings()
    notify: NotifySettings = NotifySettings()
    email: EmailSettings = EmailSettings()
    audience: AudienceSettings = AudienceSettings()
    collection: CollectionSettings = CollectionSettings()
    chasing: ChasingSettings = ChasingSettings()
    reminders: ReminderDefaults = ReminderDefaults()
    webhooks: WebhookSettings = WebhookSettings()
    alerts: AlertSettings = AlertSettings()
    development: DevelopmentSettings = DevelopmentSettings()

    @model_validator(mode="after")
    def _refuse_former_names(self) -> "Settings":
        """A variable under its name from before the grouping would be ignored, its setting
        silently at the default: refuse, naming the variable and what it is called now."""
        found = [f"{old} (now {new})" for old, new in FORMER_NAMES.items() if old in os.environ]
        if found:
            raise ValueError(f"refusing to start with renamed settings: {found}")
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> "Settings":
        if self.environment == "production":
            unsafe = [
                env_name(path)
                for path, value, dev in (
                    ("security.secret_key", self.security.secret_key, DEV_SECRET_KEY),
                    ("notify.api_key", self.notify.api_key, DEV_NOTIFY_API_KEY),
                )
                if value == dev
            ]
            # Any secret-looking setting still at its development default, including ones
            # added later, and any setting holding a known dev secret under another name.
            for path, value, default in _leaves(self):
                values = value if isinstance(value, list) else [value]
                name = env_name(path)
                if name in unsafe:
                    continue
                if any(isinstance(v, str) and v in _DEV_VALUES for v in values) or (
                    _SECRET_NAME.search(path)
                    and isinstance(default, str)
                    and default
                    and value == default
                ):
                    unsafe.append(name)
            unsafe += self._unsafe_pds_settings()
            if len(self.security.secret_key) < MIN_SECRET_LENGTH:
                unsafe.append(
                    f"{env_name('security.secret_key')} (shorter than {MIN_SECRET_LENGTH} "
                    "characters)"
                )
            if unsafe:
                raise ValueError(f"refusing to start in production with dev secrets: {unsafe}")
        return self

    @model_validator(mode="after")
    def _refuse_development_knobs_in_production(self) -> "Settings":
        """A knob that compresses time or points at a local stand-in has no place in a real
        deployment: refuse any the environment (or caller) set away from its default."""
        if self.environment != "production":
            return self
        knobs = DevelopmentSettings()
        changed = [
            env_name(f"development.{name}")
            for name in type(knobs).model_fields
            if getattr(self.development, name) != getattr(knobs, name)
        ]
        if changed:
            raise ValueError(
                f"refusing to start in production with development-only settings: {changed}"
            )
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
        if any(len(key) < MIN_SECRET_LENGTH for key in self.security.previous_secret_keys):
            found.append((env_name("security.previous_secret_keys"), f"a retired key is {short}"))
        token = self.metrics.token
        if token is not None and len(token) < MIN_SECRET_LENGTH:
            found.append((env_name("metrics.token"), short))
        if not self.mesh.verify_tls:
            found.append((env_name("mesh.verify_tls"), "must be true: MESH is reached over TLS"))
        if not self.api.public_base_url.startswith("https://"):
            found.append((env_name("api.public_base_url"), "must be an https URL"))
        found += self._weak_letters()
        canonical = env_name("fhir.canonical_base")
        if self.fhir.canonical_base == DEVELOPMENT_CANONICAL_BASE:
            found.append((canonical, "set the deployment's own base"))
        elif not self.fhir.canonical_base.startswith("https://"):
            found.append((canonical, "must be an https URL"))
        if any("*" in origin or origin == "null" for origin in self.api.cors_allow_origins):
            found.append(
                (env_name("api.cors_allow_origins"), "name each origin; * or null lets any")
            )
        for path in (
            "api.client_rate_limit_per_minute",
            "api.token_rate_limit_per_minute",
            "api.inbox_sign_in_rate_limit_per_minute",
        ):
            if getattr(self.api, path.split(".")[1]) == 0:
                found.append((env_name(path), "0 switches the limit off"))
        return found

    def _weak_letters(self) -> list[tuple[str, str]]:
        """Letters to practices over MESH must name the trust that sent them, and print every
        name as written."""
        if not self.mesh.url:
            return []
        found: list[tuple[str, str]] = []
        if not all(
            self.is_configured(path)
            for path in ("letter.sender_ods_code", "letter.sender_telephone")
        ):
            # A practice must know who sent the letter and whom to call back.
            found.append(
                (env_name("letter.sender_ods_code"), "set the trust's own ODS code and telephone")
            )
        if not all(
            (self.letter.font_dir / name).is_file()
            for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
        ):
            # Without them a name outside Latin-1 is folded on the letter the practice files.
            found.append(
                (env_name("letter.font_dir"), "install fonts-dejavu-core or name a folder")
            )
        return found

    def is_configured(self, *paths: str) -> bool:
        """Whether any of these settings (`group.field`) was given (environment or arguments)
        rather than left at its default: `liaison dev` then uses that real service, not a
        stand-in."""
        for path in paths:
            *groups, name = path.split(".")
            model: BaseModel = self
            for group in groups:
                if group not in model.model_fields_set:
                    break
                model = getattr(model, group)
            else:
                if name in model.model_fields_set:
                    return True
        return False

    def _unsafe_pds_settings(self) -> list[str]:
        """In production PDS is either off by choice or reached with application-restricted
        access: never the tokenless sandbox mode, never silently unconfigured."""
        pds = self.pds
        if pds.mode == "off":
            return []
        needed = {
            "base_url": pds.base_url,
            "token_url": pds.token_url,
            "api_key": pds.api_key,
            "private_key_path": pds.private_key_path,
            "key_id": pds.key_id,
        }
        missing = [env_name(f"pds.{name}") for name, value in needed.items() if not value]
        off = env_name("pds.mode")
        return [f"{name} (unset: set it, or {off}=off)" for name in missing]

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
        LIAISON_DELIVERY__GP_ALLOWED_HOSTS when set), or None."""
        return endpoint_problem(
            url,
            require_https=self.environment == "production",
            allowed_hosts=self.delivery.gp_allowed_hosts,
        )

    @property
    def metrics_path(self) -> Path:
        return self.metrics.dir or self.data_dir / "metrics"

    @property
    def is_embedded(self) -> bool:
        return self.database.url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
