"""The practice directory: which adapter serves each ODS code, and how to reach it.

Stored in the database and managed through `GET/PUT /ops/practices/{ods}` and
`liaison practices list|set|import`; seeded at start-up from the YAML file named by
LIAISON_DELIVERY__PRACTICE_DIRECTORY. Without a file, development mode gets the simulator's eight
scripted practices and one practice on the inbox route with a demo account, so that
`make run` works with no set-up, and two practices on the MESH route (answered in
`liaison dev` when mesh-sandbox is installed).

Credentials are held by reference only (`token_env`, `private_key_env`,
`callback_secret_env`, `password_env`: names of environment variables in the reserved
namespace LIAISON_PRACTICE_SECRET_*), so neither the YAML file, the database nor the ops
API ever carries a secret, and no entry can name one of Liaison's own settings.

Who may change what: the connection of a practice (adapter, endpoint, credentials; every
field but the `OPERATIONAL_FIELDS`) is changed only from a shell (the YAML file,
`liaison practices`) or by a client holding the `practice-admin` scope, which no client
gets by default; the `ops` scope reads the directory and tunes the operational fields.

Start-up seeding never overwrites a practice last changed through the API or CLI (its
`source` says which); `liaison practices import` does, because an operator asked for it.
"""

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from adapters.gp_system import AdapterKind
from adapters.mesh_gp import workflow_problem
from gateway.domain.errors import FieldError, Invalid
from gateway.domain.practice_endpoints import PRACTICE_SECRET_PREFIX, secret_reference_problem
from gateway.security.passwords import hash_password, password_matches
from gateway.settings import Settings
from gateway.store.models import InboxUser, Practice
from gateway.store.ports import PracticeWriterPort
from gateway.store.unit_of_work import UnitOfWork

ODS_PATTERN = r"^[A-Z0-9]{3,10}$"


# Validation context for reading an entry back from the database: a row written before the
# namespace existed must still be listed (so engineers see what to fix), and the workers
# never read a variable outside the namespace whatever a row says (Settings.practice_secret).
STORED = {"stored": True}


def _reserved(name: str, info: ValidationInfo) -> str:
    problem = secret_reference_problem(name)
    if problem is not None and not (info.context or {}).get("stored"):
        raise ValueError(problem)
    return name


# An environment variable's name in the practice-credential namespace: a reference to a
# secret, never the secret.
SecretReference = Annotated[
    str,
    Field(
        max_length=128,
        json_schema_extra={"pattern": rf"^{PRACTICE_SECRET_PREFIX}[A-Z0-9_]{{1,100}}$"},
        description="the name of an environment variable in LIAISON_PRACTICE_SECRET_*",
    ),
    AfterValidator(_reserved),
]


def _registered_workflow(workflow_id: str, info: ValidationInfo) -> str:
    problem = workflow_problem(workflow_id)
    if problem is not None and not (info.context or {}).get("stored"):
        raise ValueError(problem)
    return workflow_id


# A MESH workflow id from the national register (adapters.mesh_gp.REGISTERED_WORKFLOWS);
# a row stored before the check is still listed, and the workers refuse to send under it.
WorkflowId = Annotated[
    str, Field(pattern=r"^[A-Z0-9_]{1,64}$"), AfterValidator(_registered_workflow)
]
Source = Literal["yaml", "api", "cli", "dev"]


class BearerAuth(BaseModel):
    """A static bearer token, read from the named environment variable."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["bearer"]
    token_env: SecretReference


class SmartBackendAuth(BaseModel):
    """SMART Backend Services: a client-credentials grant with a signed JWT assertion."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["smart-backend"]
    token_url: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1, max_length=200)
    private_key_env: SecretReference  # PEM, RSA (RS384) or EC P-384 (ES384)
    key_id: str | None = None
    algorithm: Literal["RS384", "ES384"] = "RS384"
    scope: str = "system/Task.rs system/MedicationRequest.rs system/*.c"


Auth = Annotated[BearerAuth | SmartBackendAuth, Field(discriminator="type")]


class AppointmentManagement(BaseModel):
    """The practice offers GP Connect Appointment Management (FHIR STU3): Liaison may search
    its free slots and book on the service user's behalf."""

    model_config = ConfigDict(extra="forbid")
    # The provider's service root (Spine Directory Service `nhsMhsEndPoint`), e.g.
    # https://provider.example.nhs.uk/GP0001/STU3/1.
    base_url: str = Field(pattern=r"^https?://", max_length=500)
    provider_asid: str = Field(pattern=r"^[0-9]{1,20}$")
    # GPConnect-OrganisationType-1 code sent as a slot search filter (and in the booking).
    organisation_type: str | None = Field(default=None, pattern=r"^[a-z-]{1,40}$")


class PracticeSettings(BaseModel):
    """Everything about one practice except its ODS code (the body of PUT /ops/practices)."""

    model_config = ConfigDict(extra="forbid")

    adapter: AdapterKind
    base_url: str | None = Field(default=None, pattern=r"^https?://", max_length=500)
    auth: Auth | None = None
    # Task search: by `owner` identifier (one endpoint serving many practices), or by
    # Liaison's identifier system (a practice's own endpoint; works on any FHIR server).
    task_search: Literal["owner", "identifier"] | None = None
    search_orders: bool | None = None  # also follow MedicationRequest orders (FHIR only)
    timeout_seconds: float | None = Field(default=None, gt=0, le=120)
    # MESH (GP Connect Send Document): the practice's mailbox, when a local agreement names
    # one; unset, MESH's endpoint lookup for the ODS code, else automated routing, finds it.
    mailbox: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{3,20}$")
    # Unset: GPCONNECT_SEND_DOCUMENT.
    workflow_id: WorkflowId | None = None
    callback_secret_env: SecretReference | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    max_in_flight: int | None = Field(default=None, ge=1, le=100)
    chase_after_days: int = Field(default=3, ge=1, le=60)
    appointments: AppointmentManagement | None = None

    @model_validator(mode="after")
    def _fits_adapter(self) -> "PracticeSettings":
        if self.adapter == "fhir" and not self.base_url:
            raise ValueError("base_url is required for adapter fhir")
        if self.adapter != "mesh" and (self.mailbox or self.workflow_id):
            raise ValueError("mailbox and workflow_id apply only to adapter mesh")
        if self.adapter in ("mesh", "inbox") and (self.base_url or self.auth):
            raise ValueError(f"base_url and auth do not apply to adapter {self.adapter}")
        return self


class InboxUserEntry(BaseModel):
    """A practice inbox account seeded from YAML (development and first set-up)."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password_env: SecretReference | None = None
    password_hash: str | None = Field(default=None, pattern=r"^\$argon2id\$")

    @model_validator(mode="after")
    def _one_password(self) -> "InboxUserEntry":
        if (self.password_env is None) == (self.password_hash is None):
            raise ValueError("give exactly one of password_env or password_hash")
        return self


class PracticeEntry(PracticeSettings):
    ods_code: str = Field(pattern=ODS_PATTERN)
    inbox_users: list[InboxUserEntry] = Field(default_factory=list)


class DirectoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    practices: list[PracticeEntry]


class PracticeEntryRefused(Invalid):
    """An entry Liaison will not send to: `problems` pairs each field with why."""

    def __init__(self, ods_code: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(
            f"practice {ods_code}: " + "; ".join(f"{field} {why}" for field, why in problems)
        )
        self.ods_code = ods_code
        self.problems = problems

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(field, f"{field}: {why}") for field, why in self.problems]


# What the `ops` scope may change: how hard Liaison presses a practice, never where its
# requests go nor with which credentials (those need a shell or the `practice-admin` scope).
OPERATIONAL_FIELDS = frozenset(
    {"rate_limit_per_minute", "max_in_flight", "chase_after_days", "timeout_seconds"}
)


def connection_changes(current: PracticeSettings | None, wanted: PracticeSettings) -> list[str]:
    """The fields outside OPERATIONAL_FIELDS that writing `wanted` would change (for a new
    practice, every one it sets)."""
    before = current.model_dump(mode="json") if current is not None else {}
    after = wanted.model_dump(mode="json")
    return sorted(
        name
        for name in PracticeSettings.model_fields
        if name not in OPERATIONAL_FIELDS and after.get(name) != before.get(name)
    )


def endpoint_problems(entry: PracticeSettings, settings: Settings) -> list[tuple[str, str]]:
    """Each URL of the entry Liaison would refuse to call, with why (see
    `Settings.practice_endpoint_problem`): https in production, the allowed hosts."""
    urls: list[tuple[str, str]] = []
    if entry.adapter in ("fhir", "simulator"):
        urls.append(("base_url", entry.base_url or settings.development.simulator_base_url))
    if isinstance(entry.auth, SmartBackendAuth):
        urls.append(("auth.token_url", entry.auth.token_url))
    if entry.appointments is not None:
        urls.append(("appointments.base_url", entry.appointments.base_url))
    return [
        (field, why)
        for field, url in urls
        if (why := settings.practice_endpoint_problem(url)) is not None
    ]


def check_endpoints(ods_code: str, entry: PracticeSettings, settings: Settings) -> None:
    problems = endpoint_problems(entry, settings)
    if problems:
        raise PracticeEntryRefused(ods_code, problems)


_OPTIONS = (
    "auth",
    "task_search",
    "search_orders",
    "timeout_seconds",
    "workflow_id",
    "callback_secret_env",
    "max_in_flight",
    "appointments",
)


# The simulated practice that asks to see the patient also offers GP Connect booking.
DEV_BOOKING_PRACTICE = "Y00003"
DEV_PROVIDER_ASID = "918999198738"


def dev_directory(settings: Settings) -> list[PracticeEntry]:
    return [
        PracticeEntry(
            ods_code=f"Y0000{n}",
            adapter="simulator",
            base_url=settings.development.simulator_base_url,
            appointments=AppointmentManagement(
                base_url=settings.development.simulator_gpconnect_url(f"Y0000{n}"),
                provider_asid=DEV_PROVIDER_ASID,
            )
            if f"Y0000{n}" == DEV_BOOKING_PRACTICE
            else None,
        )
        for n in range(1, 9)
    ]


# Development only: practices on the MESH route (GP Connect Send Document) at two of
# mesh-sandbox's canned mailboxes, each answered by a simulated MESH practice
# (adapters.standins.mesh_practice): Y00010 files every letter, Y00011 refuses them.
DEV_MESH_FILING = "Y00010"
DEV_MESH_FILING_MAILBOX = "X26ABC2"
DEV_MESH_REFUSING = "Y00011"
DEV_MESH_REFUSING_MAILBOX = "X26ABC3"


def dev_mesh_directory() -> list[PracticeEntry]:
    return [
        PracticeEntry(ods_code=ods, adapter="mesh", mailbox=mailbox)
        for ods, mailbox in (
            (DEV_MESH_FILING, DEV_MESH_FILING_MAILBOX),
            (DEV_MESH_REFUSING, DEV_MESH_REFUSING_MAILBOX),
        )
    ]


# Development only: a practice on the inbox route and its one account, whose password is made
# on first use, kept in the data directory and printed by `liaison dev`.
DEV_INBOX_PRACTICE = "Y00100"
DEV_INBOX_USERNAME = "reception"


def dev_inbox_account(uow: UnitOfWork, settings: Settings) -> tuple[str, str, str] | None:
    """(ODS code, username, password) of the development inbox account, created or reset to
    the kept password; None outside the development directory. The caller commits."""
    if settings.environment != "development" or settings.delivery.practice_directory is not None:
        return None
    path = settings.data_dir / "demo-inbox-password"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(12))
    password = path.read_text().strip()
    user = uow.inbox.user(DEV_INBOX_PRACTICE, DEV_INBOX_USERNAME)
    if user is None or not password_matches(user.password_hash, password):
        ensure_inbox_user(
            uow, DEV_INBOX_PRACTICE, DEV_INBOX_USERNAME, hash_password(password), replace=True
        )
    return DEV_INBOX_PRACTICE, DEV_INBOX_USERNAME, password


def load_directory(path: Path) -> list[PracticeEntry]:
    data: Any = yaml.safe_load(path.read_text())
    return DirectoryFile.model_validate(data).practices


def settings_of(practice: Practice) -> PracticeSettings:
    """The directory entry as stored (no runtime state such as cursors or the breaker)."""
    config = dict(practice.config or {})
    options = {name: config[name] for name in _OPTIONS if config.get(name) is not None}
    return PracticeSettings.model_validate(
        {
            "adapter": practice.adapter,
            "base_url": practice.base_url,
            "mailbox": practice.mesh_mailbox,
            "rate_limit_per_minute": practice.rate_limit_per_minute,
            "chase_after_days": practice.chase_after_days,
            **options,
        },
        context=STORED,
    )


def source_of(practice: Practice) -> str:
    return str((practice.config or {}).get("source", "yaml"))


def write_practice(
    uow: PracticeWriterPort, ods_code: str, entry: PracticeSettings, *, source: Source
) -> tuple[Practice, bool]:
    """Create or replace a practice's directory entry, keeping its runtime state (cursor,
    breaker, rate bucket). Returns the row and whether it was created. The caller commits."""
    config: dict[str, Any] = {
        name: value
        for name, value in entry.model_dump(mode="json", include=set(_OPTIONS)).items()
        if value is not None
    }
    config["source"] = source
    practice = uow.practices.get(ods_code)
    created = practice is None
    if practice is None:
        practice = Practice(ods_code=ods_code, breaker_state="closed", breaker_failures=0)
        uow.practices.add(practice)
    practice.adapter = entry.adapter
    practice.base_url = entry.base_url
    practice.mesh_mailbox = entry.mailbox.upper() if entry.mailbox else None
    practice.config = config
    practice.rate_limit_per_minute = entry.rate_limit_per_minute
    practice.chase_after_days = entry.chase_after_days
    if entry.rate_limit_per_minute is None:
        practice.rate_tokens = None
        practice.rate_checked_at = None
    practice.updated_at = datetime.now(UTC)
    return practice, created


def ensure_inbox_user(
    uow: UnitOfWork, ods_code: str, username: str, password_hash: str, *, replace: bool
) -> bool:
    """Create the account, or (with `replace`) set its password. Returns whether it changed."""
    user = uow.inbox.user(ods_code, username)
    if user is None:
        uow.inbox.add_user(
            InboxUser(
                practice_ods=ods_code,
                username=username,
                password_hash=password_hash,
                active=True,
                failed_sign_ins=0,
            )
        )
        return True
    if replace:
        user.password_hash = password_hash
        user.active = True
        user.failed_sign_ins = 0
        user.locked_until = None
        return True
    return False


def _user_hash(settings: Settings, user: InboxUserEntry, ods_code: str) -> str | None:
    if user.password_hash:
        return user.password_hash
    password = settings.practice_secret(user.password_env)
    if not password:
        return None
    return hash_password(password)


def seed(
    uow: UnitOfWork,
    entries: list[PracticeEntry],
    *,
    settings: Settings | None = None,
    source: Source = "yaml",
    overwrite: bool = False,
) -> int:
    """Write the entries (and their inbox users) and commit. Practices last changed through
    the API or CLI are left as they are unless `overwrite`. Returns how many were written.
    With `settings`, an entry whose endpoint Liaison would refuse to call refuses the whole
    file (PracticeEntryRefused) before anything is written."""
    if settings is not None:
        for entry in entries:
            check_endpoints(entry.ods_code, entry, settings)
    written = 0
    for entry in entries:
        existing = uow.practices.get(entry.ods_code)
        if existing is not None and not overwrite and source_of(existing) in ("api", "cli"):
            continue
        write_practice(uow, entry.ods_code, entry, source=source)
        written += 1
        uow.session.flush()
        for user in entry.inbox_users:
            digest = _user_hash(settings, user, entry.ods_code) if settings else user.password_hash
            if digest is not None:
                ensure_inbox_user(uow, entry.ods_code, user.username, digest, replace=overwrite)
    uow.commit()
    return written


def entries_for(settings: Settings) -> list[PracticeEntry]:
    if settings.delivery.practice_directory is not None:
        return load_directory(settings.delivery.practice_directory)
    if settings.environment == "development":
        return [
            *dev_directory(settings),
            *dev_mesh_directory(),
            PracticeEntry(ods_code=DEV_INBOX_PRACTICE, adapter="inbox"),
        ]
    return []
