"""Building the right `GPSystem` for each practice from its directory entry.

simulator / fhir -> FhirRestGPSystem (no auth, a static bearer token, or SMART Backend
Services); mesh -> MeshGPSystem (GP Connect Send Document) through Liaison's own mailbox,
under the registered workflow id the entry names (GPCONNECT_SEND_DOCUMENT unless it names
another registered one); inbox -> InboxGPSystem.
Credentials are looked up by reference through `Settings.practice_secret` when the adapter
is built; a missing one gives an adapter that refuses every call with a clear reason. The
endpoints are checked again here (https in production, LIAISON_GP_ALLOWED_HOSTS), whatever
the database holds, so a row written around the directory's checks sends nothing anywhere.
"""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx

from adapters.errors import PermanentAdapterError
from adapters.fhir_rest import FhirRestGPSystem
from adapters.gp_system import Delivery, GPSystem, SubmitReceipt, UpdateBatch
from adapters.inbox import InboxGPSystem
from adapters.mesh import MeshMailbox, MeshMailboxConfig
from adapters.mesh_gp import MeshGPSystem, workflow_problem
from adapters.smart_backend import SmartBackendAuth
from fhir_profiles.send_document.contract import WORKFLOW_ID
from fhir_profiles.send_document.message import build_send_document, mesh_address, mesh_subject
from gateway.domain.practice_endpoints import PRACTICE_SECRET_PREFIX, is_practice_secret_reference
from gateway.settings import Settings
from gateway.store.models import Practice


@dataclass(frozen=True)
class PracticeEndpoint:
    """What the workers need to reach a practice: copied out of the directory row."""

    ods_code: str
    adapter: str
    base_url: str | None
    # The entry's adapter options (auth by reference, mailbox, search style...) as canonical
    # JSON: hashable, so an adapter is cached per endpoint and rebuilt when the entry changes.
    options: str = "{}"

    @classmethod
    def of(cls, practice: Practice) -> "PracticeEndpoint":
        options: dict[str, Any] = dict(practice.config or {})
        options.pop("source", None)
        if practice.mesh_mailbox:
            options["mailbox"] = practice.mesh_mailbox
        return cls(
            practice.ods_code,
            practice.adapter,
            practice.base_url,
            json.dumps(options, sort_keys=True, separators=(",", ":")),
        )

    def option(self, name: str) -> Any:
        return json.loads(self.options).get(name)


class Unavailable:
    """A practice Liaison cannot reach as configured: every call says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def submit(self, delivery: Delivery) -> SubmitReceipt:
        raise PermanentAdapterError(self.reason)

    def fetch_updates(self, *, ods_code: str, since: str | None) -> UpdateBatch:
        raise PermanentAdapterError(self.reason)

    def health(self) -> bool:
        return False


def mesh_mailbox_factory(settings: Settings) -> Callable[[], MeshMailbox | None]:
    """Liaison's MESH mailbox, built once per process on first use; None if not configured."""
    lock = threading.Lock()
    built: list[MeshMailbox | None] = []

    def mailbox() -> MeshMailbox | None:
        with lock:
            if not built:
                built.append(_mesh_mailbox(settings))
            return built[0]

    return mailbox


def _mesh_mailbox(settings: Settings) -> MeshMailbox | None:
    if not (settings.mesh_url and settings.mesh_mailbox and settings.mesh_password):
        return None
    cert = (
        (str(settings.mesh_client_cert), str(settings.mesh_client_key))
        if settings.mesh_client_cert and settings.mesh_client_key
        else None
    )
    return MeshMailbox(
        MeshMailboxConfig(
            url=settings.mesh_url,
            mailbox=settings.mesh_mailbox,
            password=settings.mesh_password,
            shared_key=settings.mesh_shared_key or "",
            client_cert=cert,
            ca_cert=str(settings.mesh_ca_cert) if settings.mesh_ca_cert else None,
            verify_tls=settings.mesh_verify_tls,
            timeout=settings.http_timeout_seconds,
        )
    )


def _missing(endpoint: PracticeEndpoint, what: str, reference: Any) -> Unavailable:
    name = str(reference)
    if not is_practice_secret_reference(name):
        return Unavailable(
            f"practice {endpoint.ods_code}: {what} variable {name} is outside "
            f"{PRACTICE_SECRET_PREFIX}*, so it is never read"
        )
    return Unavailable(f"practice {endpoint.ods_code}: {what} variable {name} is not set")


def _refused_url(
    settings: Settings, endpoint: PracticeEndpoint, field: str, url: str
) -> str | None:
    why = settings.practice_endpoint_problem(url)
    return None if why is None else f"practice {endpoint.ods_code}: {field} {why}"


def _fhir(settings: Settings, endpoint: PracticeEndpoint) -> GPSystem:
    auth_entry: dict[str, Any] | None = endpoint.option("auth")
    bearer: str | None = None
    auth: httpx.Auth | None = None
    base_url = endpoint.base_url or settings.simulator_base_url
    refused = _refused_url(settings, endpoint, "base_url", base_url)
    if refused is not None:
        return Unavailable(refused)
    if auth_entry and auth_entry.get("type") == "bearer":
        bearer = settings.practice_secret(auth_entry.get("token_env"))
        if bearer is None:
            return _missing(endpoint, "bearer token", auth_entry.get("token_env"))
    elif auth_entry and auth_entry.get("type") == "smart-backend":
        key = settings.practice_secret(auth_entry.get("private_key_env"))
        if key is None:
            return _missing(endpoint, "SMART private key", auth_entry.get("private_key_env"))
        refused = _refused_url(settings, endpoint, "auth.token_url", str(auth_entry["token_url"]))
        if refused is not None:
            return Unavailable(refused)
        auth = SmartBackendAuth(
            token_url=str(auth_entry["token_url"]),
            client_id=str(auth_entry["client_id"]),
            private_key_pem=key,
            scope=str(auth_entry.get("scope") or "system/*.rs"),
            key_id=auth_entry.get("key_id"),
            algorithm=str(auth_entry.get("algorithm") or "RS384"),
        )
    simulator = endpoint.adapter == "simulator"
    search_orders = endpoint.option("search_orders")
    retry = settings.adapter_retry(endpoint.adapter)
    short: dict[str, Any] = {}
    if retry.short_attempts is not None:
        short["retry_attempts"] = retry.short_attempts
    if retry.short_max_wait_seconds is not None:
        short["retry_max_wait"] = retry.short_max_wait_seconds
    return FhirRestGPSystem(
        base_url=base_url,
        bearer_token=bearer,
        auth=auth,
        timeout=float(endpoint.option("timeout_seconds") or settings.http_timeout_seconds),
        # The simulator serves many practices at one endpoint; a practice's own endpoint
        # holds only its own Tasks, found by Liaison's identifier system on any server.
        task_search=endpoint.option("task_search") or ("owner" if simulator else "identifier"),
        search_orders=bool(search_orders if search_orders is not None else not simulator),
        **short,
    )


def _mesh(endpoint: PracticeEndpoint, mailbox: MeshMailbox | None) -> GPSystem:
    if mailbox is None:
        return Unavailable(
            "Liaison's MESH mailbox is not configured (LIAISON_MESH_URL, "
            "LIAISON_MESH_MAILBOX, LIAISON_MESH_PASSWORD)"
        )
    workflow_id = str(endpoint.option("workflow_id") or WORKFLOW_ID)
    # Checked again here, whatever the database holds: only a registered id is sent under.
    problem = workflow_problem(workflow_id)
    if problem is not None:
        return Unavailable(f"practice {endpoint.ods_code}: workflow_id {workflow_id} {problem}")
    practice_mailbox = endpoint.option("mailbox")
    return MeshGPSystem(
        mailbox=mailbox,
        compose=build_send_document,
        address=mesh_address,
        subject=mesh_subject,
        practice_mailbox=str(practice_mailbox) if practice_mailbox else None,
        workflow_id=workflow_id,
    )


def gp_system_factory(
    settings: Settings, mesh_mailbox: Callable[[], MeshMailbox | None]
) -> Callable[[PracticeEndpoint], GPSystem]:
    # One client per endpoint per process: connections are pooled and reused across tasks.
    @lru_cache(maxsize=4096)
    def build(endpoint: PracticeEndpoint) -> GPSystem:
        if endpoint.adapter in ("simulator", "fhir"):
            return _fhir(settings, endpoint)
        if endpoint.adapter == "mesh":
            return _mesh(endpoint, mesh_mailbox())
        if endpoint.adapter == "inbox":
            return InboxGPSystem()
        return Unavailable(f"no adapter {endpoint.adapter!r} for practice {endpoint.ods_code}")

    return build
