"""Building the right `GPSystem` for each practice from its directory entry.

Which adapter each kind of entry gets, its typed options and what it can do are
`adapters.gp_registry`; this module hands the registry what only the deployment knows.
Credentials are looked up by reference through `Settings.practice_secret` when the adapter
is built; a missing one gives an adapter that refuses every call with a clear reason. The
endpoints are checked again here (https in production, LIAISON_DELIVERY__GP_ALLOWED_HOSTS), whatever
the database holds, so a row written around the directory's checks sends nothing anywhere.
"""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from adapters import gp_registry
from adapters.gp_registry import BuildContext, NotBuilt, Unavailable
from adapters.gp_system import GPSystem
from adapters.mesh import MeshMailbox, MeshMailboxConfig
from gateway.domain.practice_endpoints import PRACTICE_SECRET_PREFIX, is_practice_secret_reference
from gateway.settings import Settings
from gateway.store.models import Practice

__all__ = ["PracticeEndpoint", "Unavailable", "gp_system_factory", "mesh_mailbox_factory"]


@dataclass(frozen=True)
class PracticeEndpoint:
    """What the workers need to reach a practice: copied out of the directory row."""

    ods_code: str
    adapter: str
    base_url: str | None
    # The options the entry's adapter kind takes (auth by reference, mailbox, search
    # style...) as canonical JSON: hashable, so an adapter is cached per endpoint and rebuilt
    # when the entry changes. Read by the kind's typed options model, never field by field.
    options: str = "{}"
    # How long one call to the practice may take (an operational field, any kind).
    timeout_seconds: float | None = None

    @classmethod
    def of(cls, practice: Practice) -> "PracticeEndpoint":
        config: dict[str, Any] = dict(practice.config or {})
        if practice.mesh_mailbox:
            config["mailbox"] = practice.mesh_mailbox
        kind = gp_registry.kind_of(practice.adapter)
        # Only what the kind takes: the row also holds the directory's other fields.
        names = kind.option_names if kind is not None else frozenset()
        options = {name: config[name] for name in sorted(names) if name in config}
        timeout = config.get("timeout_seconds")
        return cls(
            practice.ods_code,
            practice.adapter,
            practice.base_url,
            json.dumps(options, sort_keys=True, separators=(",", ":")),
            float(timeout) if isinstance(timeout, int | float) and timeout else None,
        )

    def timeout(self, settings: Settings) -> float:
        return self.timeout_seconds or settings.delivery.http_timeout_seconds


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
    if not (settings.mesh.url and settings.mesh.mailbox and settings.mesh.password):
        return None
    cert = (
        (str(settings.mesh.client_cert), str(settings.mesh.client_key))
        if settings.mesh.client_cert and settings.mesh.client_key
        else None
    )
    return MeshMailbox(
        MeshMailboxConfig(
            url=settings.mesh.url,
            mailbox=settings.mesh.mailbox,
            password=settings.mesh.password,
            shared_key=settings.mesh.shared_key or "",
            client_cert=cert,
            ca_cert=str(settings.mesh.ca_cert) if settings.mesh.ca_cert else None,
            verify_tls=settings.mesh.verify_tls,
            timeout=settings.delivery.http_timeout_seconds,
        )
    )


def _secret(settings: Settings, endpoint: PracticeEndpoint) -> Callable[[str, str], str]:
    def secret(what: str, reference: str) -> str:
        found = settings.practice_secret(reference)
        if found is not None:
            return found
        if not is_practice_secret_reference(reference):
            raise NotBuilt(
                f"practice {endpoint.ods_code}: {what} variable {reference} is outside "
                f"{PRACTICE_SECRET_PREFIX}*, so it is never read"
            )
        raise NotBuilt(f"practice {endpoint.ods_code}: {what} variable {reference} is not set")

    return secret


def build_context(
    settings: Settings, endpoint: PracticeEndpoint, mesh_mailbox: Callable[[], MeshMailbox | None]
) -> BuildContext:
    retry = settings.delivery.adapter_retry(endpoint.adapter)
    return BuildContext(
        ods_code=endpoint.ods_code,
        base_url=endpoint.base_url,
        timeout_seconds=endpoint.timeout(settings),
        default_base_url=settings.development.simulator_base_url,
        secret=_secret(settings, endpoint),
        url_problem=settings.practice_endpoint_problem,
        mesh_mailbox=mesh_mailbox,
        retry_attempts=retry.short_attempts,
        retry_max_wait=retry.short_max_wait_seconds,
    )


def gp_system_factory(
    settings: Settings, mesh_mailbox: Callable[[], MeshMailbox | None]
) -> Callable[[PracticeEndpoint], GPSystem]:
    # One client per endpoint per process: connections are pooled and reused across tasks.
    @lru_cache(maxsize=4096)
    def build(endpoint: PracticeEndpoint) -> GPSystem:
        context = build_context(settings, endpoint, mesh_mailbox)
        return gp_registry.build(endpoint.adapter, json.loads(endpoint.options), context)

    return build
