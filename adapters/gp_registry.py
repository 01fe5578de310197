"""The GP system adapters Liaison has, by kind: what options each takes, how it is built
from them, and what it can do.

simulator / fhir -> FhirRestGPSystem (no auth, a static bearer token, or SMART Backend
Services); mesh -> MeshGPSystem (GP Connect Send Document) through Liaison's own mailbox,
under the registered workflow id the entry names (GPCONNECT_SEND_DOCUMENT unless it names
another registered one); inbox -> InboxGPSystem.

Each kind's options are a typed model that refuses a field it does not know, so a row
written around the practice directory's checks is refused naming the field, never read
half-way. What building needs from the deployment (secrets by reference, which endpoints
may be called, Liaison's MESH mailbox, timeouts) comes in a `BuildContext`, so no adapter
reads the settings. A practice that cannot be reached as configured gets an `Unavailable`
adapter, which refuses every call saying why.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.errors import PermanentAdapterError
from adapters.fhir_rest import FhirRestGPSystem
from adapters.gp_system import (
    AdapterKind,
    Capability,
    Delivery,
    GPSystem,
    SubmitReceipt,
    UpdateBatch,
)
from adapters.inbox import InboxGPSystem
from adapters.mesh import MeshMailbox
from adapters.mesh_gp import MeshGPSystem, workflow_problem
from adapters.smart_backend import SmartBackendAuth
from fhir_profiles.send_document.contract import WORKFLOW_ID
from fhir_profiles.send_document.message import build_send_document, mesh_address, mesh_subject

# SMART Backend Services scope when an entry names none (the directory always stores one).
DEFAULT_SMART_SCOPE: Final = "system/*.rs"


class NotBuilt(Exception):
    """Why a practice's adapter cannot be built: its words become the `Unavailable` reason
    (never a secret nor a patient's details)."""


class OptionsRefused(NotBuilt):
    """Options a kind does not accept; `fields` names each one refused (dotted paths)."""

    def __init__(self, kind: str, error: ValidationError) -> None:
        # Only where and what, never the value given: a misplaced secret stays out of logs.
        problems = [(".".join(str(part) for part in e["loc"]), e["msg"]) for e in error.errors()]
        self.fields = tuple(field for field, _ in problems)
        super().__init__(
            f"adapter {kind} options refused: "
            + "; ".join(f"{field}: {why}" for field, why in problems)
        )


class Unavailable:
    """A practice Liaison cannot reach as configured: every call says why."""

    capabilities = Capability.SUBMIT | Capability.WITHDRAW | Capability.FETCH_UPDATES

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def submit(self, delivery: Delivery) -> SubmitReceipt:
        raise PermanentAdapterError(self.reason)

    def fetch_updates(self, *, ods_code: str, since: str | None) -> UpdateBatch:
        raise PermanentAdapterError(self.reason)

    def health(self) -> bool:
        return False


@dataclass(frozen=True)
class BuildContext:
    """What building one practice's adapter needs from the deployment."""

    ods_code: str
    base_url: str | None  # the directory entry's
    timeout_seconds: float
    default_base_url: str  # the FHIR kinds' endpoint when the entry names none
    # (what, reference) -> the secret the reference names; raises NotBuilt saying why not.
    secret: Callable[[str, str], str]
    # Why requests may not go to a URL (https in production, the allowed hosts), or None.
    url_problem: Callable[[str], str | None]
    mesh_mailbox: Callable[[], MeshMailbox | None]
    retry_attempts: int | None = None
    retry_max_wait: float | None = None

    def checked_url(self, field: str, url: str) -> str:
        why = self.url_problem(url)
        if why is not None:
            raise NotBuilt(f"practice {self.ods_code}: {field} {why}")
        return url


class BearerOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["bearer"]
    token_env: str


class SmartBackendOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["smart-backend"]
    token_url: str
    client_id: str
    private_key_env: str
    key_id: str | None = None
    algorithm: Literal["RS384", "ES384"] | None = None
    scope: str | None = None


class FhirOptions(BaseModel):
    """A FHIR R4 endpoint's options (kinds fhir and simulator)."""

    model_config = ConfigDict(extra="forbid")
    auth: Annotated[BearerOption | SmartBackendOption, Field(discriminator="type")] | None = None
    task_search: Literal["owner", "identifier"] | None = None
    search_orders: bool | None = None


class MeshOptions(BaseModel):
    """A practice on MESH: its mailbox when a local agreement names one, the workflow id."""

    model_config = ConfigDict(extra="forbid")
    mailbox: str | None = None
    workflow_id: str | None = None


class InboxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


OptionsT = TypeVar("OptionsT", bound=BaseModel)


@dataclass(frozen=True)
class GPKind(Generic[OptionsT]):
    """One kind of adapter: its options model, what it can do, and how it is built."""

    name: AdapterKind
    options: type[OptionsT]
    capabilities: Capability
    make: Callable[[OptionsT, BuildContext], GPSystem]
    # Its deliveries are GP Connect Send Document letters: the worker hands over each one's
    # envelope (`Delivery.document`: which message, which version of which document).
    sends_documents: bool = False

    @property
    def option_names(self) -> frozenset[str]:
        return frozenset(self.options.model_fields)

    def read_options(self, raw: Mapping[str, Any]) -> OptionsT:
        try:
            return self.options.model_validate(dict(raw))
        except ValidationError as error:
            raise OptionsRefused(self.name, error) from None

    def build(self, raw: Mapping[str, Any], context: BuildContext) -> GPSystem:
        """The adapter for one practice, or an `Unavailable` one saying why not."""
        try:
            return self.make(self.read_options(raw), context)
        except OptionsRefused as refused:
            return Unavailable(f"practice {context.ods_code}: {refused}")
        except NotBuilt as refused:
            return Unavailable(str(refused))


def _fhir_rest(*, simulator: bool) -> Callable[[FhirOptions, BuildContext], GPSystem]:
    def make(options: FhirOptions, context: BuildContext) -> GPSystem:
        base_url = context.checked_url("base_url", context.base_url or context.default_base_url)
        bearer: str | None = None
        auth: SmartBackendAuth | None = None
        if isinstance(options.auth, BearerOption):
            bearer = context.secret("bearer token", options.auth.token_env)
        elif isinstance(options.auth, SmartBackendOption):
            smart = options.auth
            key = context.secret("SMART private key", smart.private_key_env)
            auth = SmartBackendAuth(
                token_url=context.checked_url("auth.token_url", smart.token_url),
                client_id=smart.client_id,
                private_key_pem=key,
                scope=smart.scope or DEFAULT_SMART_SCOPE,
                key_id=smart.key_id,
                algorithm=smart.algorithm or "RS384",
            )
        short: dict[str, Any] = {}
        if context.retry_attempts is not None:
            short["retry_attempts"] = context.retry_attempts
        if context.retry_max_wait is not None:
            short["retry_max_wait"] = context.retry_max_wait
        search_orders = options.search_orders
        return FhirRestGPSystem(
            base_url=base_url,
            bearer_token=bearer,
            auth=auth,
            timeout=context.timeout_seconds,
            # The simulator serves many practices at one endpoint; a practice's own endpoint
            # holds only its own Tasks, found by Liaison's identifier system on any server.
            task_search=options.task_search or ("owner" if simulator else "identifier"),
            search_orders=search_orders if search_orders is not None else not simulator,
            **short,
        )

    return make


def _mesh(options: MeshOptions, context: BuildContext) -> GPSystem:
    mailbox = context.mesh_mailbox()
    if mailbox is None:
        raise NotBuilt(
            "Liaison's MESH mailbox is not configured (LIAISON_MESH__URL, "
            "LIAISON_MESH__MAILBOX, LIAISON_MESH__PASSWORD)"
        )
    workflow_id = options.workflow_id or WORKFLOW_ID
    # Checked again here, whatever the database holds: only a registered id is sent under.
    problem = workflow_problem(workflow_id)
    if problem is not None:
        raise NotBuilt(f"practice {context.ods_code}: workflow_id {workflow_id} {problem}")
    return MeshGPSystem(
        mailbox=mailbox,
        compose=build_send_document,
        address=mesh_address,
        subject=mesh_subject,
        practice_mailbox=options.mailbox or None,
        workflow_id=workflow_id,
    )


def _inbox(options: InboxOptions, context: BuildContext) -> GPSystem:
    return InboxGPSystem()


REGISTRY: Final[Mapping[AdapterKind, GPKind[Any]]] = MappingProxyType(
    {
        "fhir": GPKind(
            "fhir", FhirOptions, FhirRestGPSystem.capabilities, _fhir_rest(simulator=False)
        ),
        "simulator": GPKind(
            "simulator", FhirOptions, FhirRestGPSystem.capabilities, _fhir_rest(simulator=True)
        ),
        "mesh": GPKind("mesh", MeshOptions, MeshGPSystem.capabilities, _mesh, sends_documents=True),
        "inbox": GPKind("inbox", InboxOptions, InboxGPSystem.capabilities, _inbox),
    }
)


def kind_of(adapter: str) -> GPKind[Any] | None:
    """The kind a directory row names, or None for one Liaison does not have."""
    for name, kind in REGISTRY.items():
        if name == adapter:
            return kind
    return None


def sends_documents(adapter: str) -> bool:
    kind = kind_of(adapter)
    return kind is not None and kind.sends_documents


def build(adapter: str, raw: Mapping[str, Any], context: BuildContext) -> GPSystem:
    kind = kind_of(adapter)
    if kind is None:
        return Unavailable(f"no adapter {adapter!r} for practice {context.ods_code}")
    return kind.build(raw, context)
