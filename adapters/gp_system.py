"""The port every GP system adapter implements (FHIR REST, MESH, simulator, inbox)."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from fhir_profiles.send_document.contract import DocumentEnvelope
from fhir_profiles.task_status import StatusReport


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


class GPSystem(Protocol):
    def submit(self, delivery: Delivery) -> SubmitReceipt:
        """Send a delivery. Raises an `adapters.errors.AdapterError` subclass on failure."""
        ...

    def fetch_updates(self, *, ods_code: str, since: str | None) -> UpdateBatch:
        """Every status change for the practice after `since`, in as few calls as the
        system allows (one search per page, never one call per request)."""
        ...

    def health(self) -> bool: ...
