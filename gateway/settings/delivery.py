"""Getting a request to the practice: the delivery loop and its retries
(`LIAISON_DELIVERY__*`), Liaison's MESH mailbox (`LIAISON_MESH__*`), the Send Document letter
(`LIAISON_LETTER__*`) and GP Connect Appointment Management (`LIAISON_GPCONNECT__*`)."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from adapters.gp_system import AdapterKind


class AdapterRetry(BaseModel):
    """One adapter kind's retry policy; a field left out takes the delivery group's value
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


class DeliverySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    practice_directory: Path | None = None
    # Hosts a practice's FHIR base URL and SMART token URL may name (`gp.example.nhs.uk`, or
    # `*.example.nhs.uk` for its subdomains), as JSON; empty: any host (https in production).
    gp_allowed_hosts: list[str] = []
    poll_interval_seconds: float = 1.0
    relay_interval_seconds: float = 0.5
    retry_base_seconds: float = 5.0
    retry_cap_seconds: float = 3600.0
    retry_budget_seconds: float = 72 * 3600.0
    # Per adapter kind, as JSON:
    # LIAISON_DELIVERY__RETRY_POLICIES='{"mesh": {"base_seconds": 300}}'.
    retry_policies: dict[AdapterKind, AdapterRetry] = {}
    lease_seconds: float = 120.0
    http_timeout_seconds: float = 10.0
    # Per-practice isolation: circuit breaker, concurrency and rate limit.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_open_seconds: float = Field(default=60.0, gt=0)
    # Deliveries one practice may have in flight at once: fewer than the workers, so a slow
    # practice can never occupy them all (a delivery over the limit waits for the sweep).
    practice_max_in_flight: int = Field(default=4, ge=1)

    def adapter_retry(self, adapter: str) -> AdapterRetry:
        """What LIAISON_DELIVERY__RETRY_POLICIES sets for this adapter kind (all None when
        nothing)."""
        for kind, policy in self.retry_policies.items():
            if kind == adapter:
                return policy
        return AdapterRetry()


class MeshSettings(BaseModel):
    """Liaison's own MESH mailbox (unset URL: no practice can use MESH)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    mailbox: str | None = None
    password: str | None = None
    shared_key: str | None = None
    client_cert: Path | None = None  # production MESH is mutual TLS
    client_key: Path | None = None
    ca_cert: Path | None = None
    verify_tls: bool = True
    poll_interval_seconds: float = 300.0  # MESH asks clients to poll about every 5 min
    tracking_interval_seconds: float = 300.0
    handshake_interval_seconds: float = 24 * 3600.0
    # GP Connect Send Document over MESH: a request is "delivered" when the practice's
    # ITK3 business response says its workflow filed it; with no response this long after
    # MESH accepted it, the delivery is dead-lettered (and the practitioner told).
    response_timeout_seconds: float = Field(default=2 * 24 * 3600.0, gt=0)


class LetterSettings(BaseModel):
    """The organisation that sends the letters (CareConnect-Organization-1 in the document,
    GP Connect Send Document requirement GPCM-SD-028): the trust's ODS code, name and a
    telephone number the practice can call. The defaults are for demonstration only: the
    number is in Ofcom's range kept for drama (020 7946 0000 to 0999), the code unassigned."""

    model_config = ConfigDict(extra="forbid")

    sender_ods_code: str = Field(default="X26", pattern=r"^[A-Z0-9]{3,10}$")
    sender_name: str = Field(default="Demonstration Mental Health Trust", min_length=1)
    sender_telephone: str = Field(default="020 7946 0000", min_length=1)
    # TrueType fonts the letter embeds so every name prints as written: a folder holding
    # DejaVuSans.ttf and DejaVuSans-Bold.ttf (Debian's fonts-dejavu-core puts them here).
    # When they are missing the letter falls back to the standard PDF fonts, which fold text
    # outside Latin-1 (and the worker warns at start).
    font_dir: Path = Path("/usr/share/fonts/truetype/dejavu")


class GpConnectSettings(BaseModel):
    """GP Connect Appointment Management (gateway.services.booking): Liaison's ASID on Spine,
    the Spine Secure Proxy to go through (unset: the practice's endpoint directly, as with
    the simulator), how often booked appointments that have ended are read for attendance."""

    model_config = ConfigDict(extra="forbid")

    consumer_asid: str = Field(default="200000000359", pattern=r"^[0-9]{1,20}$")
    ssp_url: str | None = Field(default=None, pattern=r"^https?://")
    attendance_check_seconds: float = Field(default=60.0, gt=0)
