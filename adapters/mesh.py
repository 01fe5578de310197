"""Liaison's own mailbox on NHS England's MESH, through NHS England's `mesh-client`.

`MeshMailbox` sends (`send`), finds what it sent by local id (`find_sent`), looks up a
practice's mailbox for a workflow (`lookup`, the MESH API's endpoint lookup), follows a sent
message (`track`, read through `tracking_outcome`: MESH keeps an unacknowledged message for
5 days) and collects what arrives for Liaison (`inbox`/`read`/`acknowledge`): the practices'
ITK3 responses and MESH's own non-delivery reports, for every practice at once. What is
sent to a practice, and to which address, is `adapters.mesh_gp`.

Errors follow `adapters.errors`: connection problems, timeouts, 429 and 5xx are transient;
an unknown recipient, a refused login or any other 4xx is permanent.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

import requests
from mesh_client import MeshClient, MeshError

from adapters.errors import (
    AdapterError,
    PermanentAdapterError,
    TransientAdapterError,
)
from adapters.gp_system import Tracking as Tracking  # where MESH callers have found it
from adapters.http_status import error_for_status

# MESH deletes a message nobody acknowledged after 5 days and tells the sender.
UNACKNOWLEDGED_EXPIRY: Final = timedelta(days=5)
DEFAULT_RETRY_AFTER: Final = 60.0
FHIR_JSON: Final = "application/fhir+json"

T = TypeVar("T")
TrackingOutcome = Literal["accepted", "acknowledged", "expired", "failed"]


@dataclass(frozen=True)
class MeshMailboxConfig:
    url: str
    mailbox: str
    password: str
    shared_key: str
    client_cert: tuple[str, str] | None = None  # (certificate, private key): mutual TLS
    ca_cert: str | None = None
    verify_tls: bool = True
    timeout: float = 10.0


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    sender: str | None
    message_type: str  # DATA | REPORT
    workflow_id: str | None
    local_id: str | None
    linked_message_id: str | None
    status_description: str | None
    body: bytes


def tracking_outcome(tracking: Tracking, *, sent_at: datetime, now: datetime) -> TrackingOutcome:
    """What a tracked message's fate means for Liaison (pure)."""
    status = tracking.status.lower()
    if status == "acknowledged":
        return "acknowledged"
    if status == "expired":
        return "expired"
    if status in ("error", "undeliverable") or tracking.success is False:
        return "failed"
    uploaded = tracking.uploaded_at or sent_at
    if now - uploaded >= UNACKNOWLEDGED_EXPIRY:
        return "expired"
    return "accepted"


class _LiaisonMeshClient(MeshClient):
    def track_by_local_id(self, local_id: str) -> dict[str, Any] | None:
        """The message sent with `local_id`, if MESH has one (its deprecated tracking by
        local id; answers None where the endpoint is gone)."""
        response = self._session.get(
            f"{self.mailbox_url}/outbox/tracking/{quote(local_id, safe='')}",
            timeout=self._timeout,
        )
        if response.status_code in (404, 405, 410):
            return None
        if response.status_code == 300:
            raise PermanentAdapterError(
                f"MESH holds more than one message with local id {local_id}", status_code=300
            )
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


class MeshMailbox:
    """Liaison's own MESH mailbox. Thread-safe: each thread gets its own client session."""

    def __init__(self, config: MeshMailboxConfig) -> None:
        self.config = config
        self._local = threading.local()
        self._clients: list[MeshClient] = []
        self._lock = threading.Lock()

    @property
    def mailbox(self) -> str:
        return self.config.mailbox

    def _client(self) -> _LiaisonMeshClient:
        client: _LiaisonMeshClient | None = getattr(self._local, "client", None)
        if client is None:
            verify: str | bool = self.config.ca_cert or self.config.verify_tls
            client = _LiaisonMeshClient(
                self.config.url,
                self.config.mailbox,
                self.config.password,
                shared_key=self.config.shared_key.encode(),
                cert=self.config.client_cert,
                verify=verify,
                # Waits belong to Liaison's retry schedule, not to a blocked worker.
                max_retries=1,
                timeout=self.config.timeout,
                application_name="liaison",
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _call(self, what: str, call: Callable[[_LiaisonMeshClient], T]) -> T:
        try:
            return call(self._client())
        except AdapterError:
            raise
        except requests.HTTPError as error:
            raise _http_error(what, error.response) from error
        except MeshError as error:
            # The send itself was refused (unknown recipient, bad workflow, bad headers).
            raise PermanentAdapterError(f"MESH refused {what}: {error.args[0]}") from error
        except (requests.RequestException, OSError) as error:
            raise TransientAdapterError(f"MESH {what}: {type(error).__name__}") from error

    def handshake(self) -> None:
        self._call("handshake", lambda client: client.handshake())  # type: ignore[no-untyped-call]

    def send(
        self, *, recipient: str, body: bytes, workflow_id: str, local_id: str, subject: str
    ) -> str:
        def send(client: _LiaisonMeshClient) -> str:
            message_id: str = client.send_message(
                recipient,
                body,
                workflow_id=workflow_id,
                local_id=local_id,
                subject=subject,
                content_type=FHIR_JSON,
            )
            return message_id

        # An automated-routing address carries the patient's details: never in an error.
        where = "by automated routing" if "_" in recipient else f"to {recipient}"
        return self._call(f"send {where}", send)

    def lookup(self, ods_code: str, workflow_id: str) -> str | None:
        """The mailbox MESH's endpoint lookup gives for an organisation and a workflow, if any
        (several: the first, as the lookup orders them)."""
        found: dict[str, Any] = self._call(
            f"endpoint lookup for {ods_code}",
            lambda c: dict(c.lookup_endpoint(ods_code, workflow_id)),
        )
        results: list[dict[str, Any]] = list(found.get("results") or [])
        for result in results:
            mailbox = result.get("mailbox_id") or result.get("address")
            if isinstance(mailbox, str) and mailbox:
                return mailbox
        return None

    def find_sent(self, local_id: str) -> str | None:
        """The id of a message already sent with `local_id`, if any."""
        found = self._call("tracking by local id", lambda c: c.track_by_local_id(local_id))
        if not found:
            return None
        message_id = found.get("messageId") or found.get("message_id") or found.get("dtsId")
        return str(message_id) if message_id else None

    def track(self, message_id: str) -> Tracking:
        raw: dict[str, Any] = self._call("tracking", lambda c: dict(c.track_message(message_id)))
        return Tracking(
            message_id=str(raw.get("message_id") or message_id),
            status=str(raw.get("status") or "unknown"),
            success=raw.get("status_success"),
            description=raw.get("status_description"),
            uploaded_at=_instant(raw.get("upload_timestamp")),
        )

    def inbox(self, *, limit: int = 500) -> list[str]:
        return self._call("inbox list", lambda c: list(c.list_messages(max_results=limit)))

    def read(self, message_id: str) -> InboundMessage:
        def read(client: _LiaisonMeshClient) -> InboundMessage:
            message = client.retrieve_message(message_id)
            try:
                body = message.read() or b""
            finally:
                message.close()  # type: ignore[no-untyped-call]
            return InboundMessage(
                message_id=message_id,
                sender=message.sender,
                message_type=str(message.message_type or "DATA").upper(),
                workflow_id=message.workflow_id,
                local_id=message.local_id,
                linked_message_id=message.mex_header("linkedmsgid"),
                status_description=message.mex_header("statusdescription"),
                body=body,
            )

        return self._call(f"download of {message_id}", read)

    def acknowledge(self, message_id: str) -> None:
        self._call(f"acknowledgement of {message_id}", lambda c: c.acknowledge_message(message_id))

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()  # type: ignore[no-untyped-call]
        self._local = threading.local()


def _http_error(what: str, response: requests.Response | None) -> AdapterError:
    status = response.status_code if response is not None else None
    message = f"MESH {what} answered {status}"
    if response is None or status is None:
        return TransientAdapterError(message, status_code=status)
    # The one status mapping and Retry-After reading every adapter shares (RFC 9110 §10.2.3:
    # delay-seconds or an HTTP-date).
    return error_for_status(
        status,
        message,
        retry_after=response.headers.get("Retry-After"),
        default_retry_after=DEFAULT_RETRY_AFTER,
    )


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(value, "%Y%m%d%H%M%S")
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
