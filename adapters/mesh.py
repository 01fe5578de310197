"""GP practices reached through NHS England's MESH, with NHS England's `mesh-client`.

Liaison has one MESH mailbox (`MeshMailbox`). A delivery goes to the practice's mailbox
as the FHIR transaction Bundle, with the practice's workflow id and Liaison's delivery id as
the MESH local id (`MeshGPSystem.submit`). MESH is store-and-forward: a message it accepted
is in transit until the practice downloads and acknowledges it, so the submit receipt says
`in_transit`, and tracking (`MeshMailbox.track`, read through `tracking_outcome`) later
tells whether it was acknowledged, or failed or expired (MESH keeps an unacknowledged
message for 5 days). Practices answer with a FHIR Task (or a Bundle of Tasks) sent to
Liaison's mailbox; `MeshMailbox.inbox`/`read`/`acknowledge` collect those replies for all
practices at once, and MESH's own non-delivery reports arrive the same way.

Errors follow `adapters.errors`: connection problems, timeouts, 429 and 5xx are transient;
an unknown recipient, a refused login or any other 4xx is permanent.
"""

import json
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
    RateLimited,
    TransientAdapterError,
)
from adapters.gp_system import Delivery, DeliveryPurpose, SubmitReceipt, UpdateBatch
from fhir_profiles.task_status import StatusReport, interpret_task

# MESH deletes a message nobody acknowledged after 5 days and tells the sender.
UNACKNOWLEDGED_EXPIRY: Final = timedelta(days=5)
DEFAULT_RETRY_AFTER: Final = 60.0
FHIR_JSON: Final = "application/fhir+json"
# No patient detail in MESH headers: they are visible to every relay and in tracking.
SUBJECT: Final = "Liaison: stop-smoking medicine recommendation"
WITHDRAWAL_NOT_SUPPORTED: Final = (
    "withdrawal over MESH is not supported yet: telephone the practice to withdraw the request"
)

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
class Tracking:
    message_id: str
    status: str  # as MESH says it: accepted, acknowledged, error, undeliverable, expired...
    success: bool | None
    description: str | None
    uploaded_at: datetime | None


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


def parse_reply(body: bytes) -> list[StatusReport]:
    """The status reports in a practice's reply: a FHIR Task, or a Bundle of Tasks.
    Raises ValueError for a body that is neither."""
    try:
        resource: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("the reply is not JSON") from error
    if not isinstance(resource, dict):
        raise ValueError("the reply is not a FHIR resource")
    tasks: list[Any]
    if resource.get("resourceType") == "Task":
        tasks = [resource]
    elif resource.get("resourceType") == "Bundle":
        tasks = [
            entry.get("resource")
            for entry in resource.get("entry", [])
            if isinstance(entry, dict)
            and (entry.get("resource") or {}).get("resourceType") == "Task"
        ]
    else:
        raise ValueError("the reply is neither a Task nor a Bundle")
    reports = [interpret_task(task) for task in tasks if isinstance(task, dict)]
    return [report for report in reports if report is not None]


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

        return self._call(f"send to {recipient}", send)

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


class MeshGPSystem:
    """`GPSystem` for one practice reached through MESH."""

    def __init__(self, *, mailbox: MeshMailbox, practice_mailbox: str, workflow_id: str) -> None:
        self._mailbox = mailbox
        self._practice_mailbox = practice_mailbox.upper()
        self._workflow_id = workflow_id

    def submit(self, delivery: Delivery) -> SubmitReceipt:
        if delivery.purpose is DeliveryPurpose.WITHDRAWAL:
            # A withdrawal over MESH is a new version of the document the practice filed;
            # until this adapter builds one, it says so rather than send the request again.
            raise PermanentAdapterError(WITHDRAWAL_NOT_SUPPORTED)
        # MESH has no conditional create: ask whether this delivery id was sent already (a
        # worker that died after MESH accepted it), so a retry never sends it twice.
        existing = self._mailbox.find_sent(delivery.delivery_id)
        if existing is not None:
            return SubmitReceipt(existing, 200, created=False, in_transit=True)
        body = json.dumps(delivery.bundle, separators=(",", ":")).encode()
        message_id = self._mailbox.send(
            recipient=self._practice_mailbox,
            body=body,
            workflow_id=self._workflow_id,
            local_id=delivery.delivery_id,
            subject=SUBJECT,
        )
        return SubmitReceipt(message_id, 202, created=True, in_transit=True)

    def fetch_updates(self, *, ods_code: str, since: str | None) -> UpdateBatch:
        # Replies arrive in Liaison's own mailbox, for every practice at once; they are read
        # there (workers.polling.read_mesh_inbox), not per practice.
        return UpdateBatch(reports=[], cursor=since, calls=0)

    def track(self, message_id: str) -> Tracking:
        return self._mailbox.track(message_id)

    def health(self) -> bool:
        try:
            self._mailbox.handshake()
        except AdapterError:
            return False
        return True


def _http_error(what: str, response: requests.Response | None) -> AdapterError:
    status = response.status_code if response is not None else None
    message = f"MESH {what} answered {status}"
    if status == 429:
        header = response.headers.get("Retry-After") if response is not None else None
        try:
            retry_after = float(header) if header else DEFAULT_RETRY_AFTER
        except ValueError:
            retry_after = DEFAULT_RETRY_AFTER
        return RateLimited(message, retry_after=retry_after, status_code=status)
    if status is None or status == 408 or status >= 500:
        return TransientAdapterError(message, status_code=status)
    return PermanentAdapterError(message, status_code=status)


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
