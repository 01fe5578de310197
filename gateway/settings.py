"""All configuration, read once from the environment (prefix LIAISON_).

The defaults give the embedded profile: SQLite files and the kombu SQLAlchemy
transport, the GP simulator and local sinks on loopback. Setting
LIAISON_DATABASE_URL and LIAISON_BROKER_URL selects the services profile.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Dev-only secrets: usable on a laptop, refused when LIAISON_ENVIRONMENT=production.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-0123456789abcdef"
DEV_NOTIFY_SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
DEV_NOTIFY_SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
DEV_NOTIFY_API_KEY = f"liaison-dev-{DEV_NOTIFY_SERVICE_ID}-{DEV_NOTIFY_SECRET}"
DEV_CALLBACK_SECRET = "dev-only-callback-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIAISON_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path(".liaison")
    database_url: str = "sqlite:///.liaison/liaison.db"
    broker_url: str = "sqla+sqlite:///.liaison/broker.db"
    secret_key: str = DEV_SECRET_KEY
    token_ttl_seconds: int = 3600
    # Accepted clients for the minimum bearer check: client id -> organisation ODS code.
    demo_client_id: str = "demo-app"
    demo_client_ods: str = "RX3"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 64 * 1024

    practice_directory: Path | None = None
    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8001
    simulator_step_seconds: float = 3.0

    # Delivery and polling.
    poll_interval_seconds: float = 1.0
    relay_interval_seconds: float = 0.5
    retry_base_seconds: float = 5.0
    retry_cap_seconds: float = 3600.0
    retry_budget_seconds: float = 72 * 3600.0
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

    worker_pool: Literal["prefork", "threads", "solo"] = "prefork"
    worker_concurrency: int = Field(default=4, ge=1)

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
            if unsafe:
                raise ValueError(f"refusing to start in production with dev secrets: {unsafe}")
        return self

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def simulator_base_url(self) -> str:
        return f"http://{self.simulator_host}:{self.simulator_port}/fhir"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
