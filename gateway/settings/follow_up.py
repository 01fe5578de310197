"""What follows a delivery: collection reminders and expiry (`LIAISON_COLLECTION__*`),
chase-ups of silent practices (`LIAISON_CHASING__*`), signed webhooks to case-management
apps (`LIAISON_WEBHOOKS__*`) and alerts to the engineers (`LIAISON_ALERTS__*`)."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from adapters.address_policy import split_host_port


class CollectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Collection reminders: the k-th goes k intervals after ready-to-collect, up to the limit.
    reminder_after_seconds: float = Field(default=3 * 86400.0, gt=0)
    reminder_limit: int = Field(default=2, ge=0)
    reminder_check_seconds: float = 60.0
    # Uncollected this long (or a practice silent through every chase-up): "expired".
    expire_after_seconds: float = Field(default=28 * 86400.0, gt=0)


class ChasingSettings(BaseModel):
    """Chase-ups: the first after the practice's own chase_after_days, then every
    `again_after_days` working days, at most `limit` times."""

    model_config = ConfigDict(extra="forbid")

    again_after_days: int = Field(default=2, ge=1)
    limit: int = Field(default=3, ge=0)
    check_seconds: float = 60.0


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_seconds: float = 10.0
    # Webhooks reach public internet addresses only; these JSON-listed `host` or `host:port`
    # entries are the only exceptions (tests, local development), in every environment:
    # LIAISON_WEBHOOKS__ALLOWED_HOSTS='["127.0.0.1:9000", "hooks.internal"]'.
    allowed_hosts: list[str] = []

    @field_validator("allowed_hosts")
    @classmethod
    def _host_or_host_port(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            split_host_port(entry)  # ValueError names the entry
        return entries


class AlertSettings(BaseModel):
    """Alerts (gateway.services.alerts), checked by beat and sent to the engineers' channel."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None  # signs the webhook; unset: derived from the secret key
    check_seconds: float = Field(default=30.0, gt=0)
    dead_letter_threshold: int = Field(default=1, ge=1)  # per practice, last hour
    circuit_open_minutes: float = Field(default=15.0, ge=0)
    outbox_lag_seconds: float = Field(default=120.0, gt=0)
