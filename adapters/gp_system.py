"""The port every GP system adapter implements (FHIR REST, MESH, simulator, inbox).

Every adapter submits; beyond that each says what it can do (`Capability`), and a worker
asks for the capability it needs (`update_source`, `delivery_tracker`) rather than for a
concrete adapter class: a FHIR endpoint is polled for changes, a MESH message is followed
until the practice collects it, the inbox needs neither.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Flag, StrEnum, auto
from typing import Any, Final, Literal, Protocol, cast, get_args

from fhir_profiles.send_document.contract import DocumentEnvelope
from fhir_profiles.task_status import StatusReport

# The kinds of GP system adapter, as the practice directory names them; what each takes and
# builds, and what it can do, is `adapters.gp_registry`.
AdapterKind = Literal["fhir", "mesh", "inbox", "simulator"]
ADAPTER_KINDS: Final[tuple[AdapterKind, ...]] = get_args(AdapterKind)


class DeliveryPurpose(StrEnum):
    """Why a delivery goes to the practice. A withdrawal tells the practice, through the
    route that carried the request, that the request no longer stands."""

    REQUEST = "request"
    WITHDRAWAL = "withdrawal"


@dataclass(frozen=True)
class Delivery:
    """One request to send to one practice. `delivery_id` is stable across retries
    and replays: it is the conditional-create identifier and the MESH local id."""

    delivery_id: str
    recommendation_id: str
    ods_code: str
    bundle: dict[str, Any]
    # For a WITHDRAWAL, `delivery_id` and `bundle` are those of the request it withdraws (what
    # the practice's copy carries and is found by); a route that needs an id of its own for
    # the withdrawal message (a MESH local id) derives it from `delivery_id`, stably.
    purpose: DeliveryPurpose = DeliveryPurpose.REQUEST
    # Why the request was withdrawn, in words fit for the practice (purpose WITHDRAWAL only).
    withdrawal_reason: str | None = None
    # Over MESH the practice gets a GP Connect Send Document letter: `document` says which
    # message and which version of the document this is (built by the worker at delivery
    # time), and `document_bundle`, when given, the request the letter is about (a
    # chase-up's `bundle` holds only its CommunicationRequest).
    document: DocumentEnvelope | None = None
    document_bundle: dict[str, Any] | None = None


@dataclass(frozen=True)
class SubmitReceipt:
    remote_reference: str | None
    status_code: int | None
    created: bool  # False when the GP system already had it (conditional create matched)
    # True when a store-and-forward service (MESH) took the message but the practice has not
    # collected it yet: the request is not "delivered" until the practice acknowledges it.
    in_transit: bool = False


@dataclass(frozen=True)
class UpdateBatch:
    reports: list[StatusReport]
    cursor: str | None  # pass back as `since` next time
    calls: int  # requests made to the GP system for this batch
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tracking:
    """What a store-and-forward service says of one message it was given."""

    message_id: str
    status: str  # as MESH says it: accepted, acknowledged, error, undeliverable, expired...
    success: bool | None
    description: str | None
    uploaded_at: datetime | None


class Capability(Flag):
    """What an adapter can do for the workers."""

    SUBMIT = auto()  # send a request (`Delivery` with purpose REQUEST)
    FETCH_UPDATES = auto()  # tell every status change at the practice since a cursor
    TRACK = auto()  # follow one sent message until the practice's system collects it
    WITHDRAW = auto()  # tell the practice a request no longer stands (purpose WITHDRAWAL)


class GPSystem(Protocol):
    @property
    def capabilities(self) -> Capability: ...

    def submit(self, delivery: Delivery) -> SubmitReceipt:
        """Send a delivery. Raises an `adapters.errors.AdapterError` subclass on failure."""
        ...

    def health(self) -> bool: ...


class UpdateSource(GPSystem, Protocol):
    """An adapter with `Capability.FETCH_UPDATES`."""

    def fetch_updates(self, *, ods_code: str, since: str | None) -> UpdateBatch:
        """Every status change for the practice after `since`, in as few calls as the
        system allows (one search per page, never one call per request)."""
        ...


class DeliveryTracker(GPSystem, Protocol):
    """An adapter with `Capability.TRACK`."""

    def track(self, message_id: str) -> Tracking:
        """Where the message sent as `message_id` is now."""
        ...


def update_source(gp: GPSystem) -> UpdateSource | None:
    """`gp` as something to poll for status changes, if it says it can be."""
    return cast(UpdateSource, gp) if Capability.FETCH_UPDATES in gp.capabilities else None


def delivery_tracker(gp: GPSystem) -> DeliveryTracker | None:
    """`gp` as something that follows each sent message, if it says it can."""
    return cast(DeliveryTracker, gp) if Capability.TRACK in gp.capabilities else None
