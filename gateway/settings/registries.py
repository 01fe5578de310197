"""The registered practice from PDS (adapters.pds, `LIAISON_PDS__*`) and the practice's
state from ODS (adapters.ods, `LIAISON_ODS__*`); docs/PDS_ODS.md."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PdsSettings(BaseModel):
    """`base_url` alone: a server that needs no token (NHS England's sandbox, the local
    stand-in), refused in production. With the token settings: application-restricted access
    (a signed JWT to the platform's token URL). Mode "off": no PDS at all, the practitioner's
    ODS code is trusted (a deployment not yet onboarded); production must choose it
    explicitly."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["on", "off"] = "on"
    base_url: str | None = None
    token_url: str | None = None
    api_key: str | None = None
    private_key_path: Path | None = None
    key_id: str | None = None
    # PDS unreachable: the delivery waits this long at first, doubling up to the cap.
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_cap_seconds: float = Field(default=300.0, gt=0)

    @property
    def enabled(self) -> bool:
        """Whether the worker routes by the practice PDS names."""
        return self.mode == "on" and self.base_url is not None


class OdsSettings(BaseModel):
    """The ORD API's base, e.g. https://directory.spineservices.nhs.uk/ORD/2-0-0 (open data;
    unset: practices are not checked with ODS). Answers are cached this long."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    cache_seconds: float = Field(default=6 * 3600.0, ge=0)
