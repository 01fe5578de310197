"""Knobs that exist only so tests and `liaison dev` can compress time or reach local
stand-ins (`LIAISON_DEVELOPMENT__*`). Production refuses any of them set to other than its
default (gateway.settings.root), so none can change a real deployment's behaviour."""

from pydantic import BaseModel, ConfigDict, Field


class DevelopmentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A "working day" of this many seconds, no calendar (unset: the England and Wales
    # working-day calendar).
    working_day_seconds: float | None = Field(default=None, gt=0)
    # The GP simulator's address and the pace of its scripts.
    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8001
    simulator_step_seconds: float = 3.0
    # The development demo client, registered by `liaison migrate` in development only.
    demo_client_id: str = "demo-app"
    demo_client_ods: str = "RX3"
    # Where `liaison dev` runs its stand-ins: the mail sink's viewer, mesh-sandbox (when it
    # is installed and LIAISON_MESH__URL is unset), and PDS and ODS (when their URLs are unset).
    mail_view_port: int = 8026
    mesh_sandbox_port: int = 8030
    pds_standin_port: int = 8028
    ods_standin_port: int = 8029

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
