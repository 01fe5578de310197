"""GP Connect Appointment Management (FHIR STU3): search free slots, book, read, cancel.

Specification: GP Connect 1.2 (https://developer.nhs.uk/apis/gpconnect-1-2-7/, source
github.com/nhsconnect/gpconnect): pages/appointments/appointments_use_case_*.md and
pages/integration/integration_cross_organisation_audit_and_provenance.md.

Every request carries the Spine Secure Proxy headers `Ssp-TraceID` (a fresh UUID), `Ssp-From`
(Liaison's ASID), `Ssp-To` (the practice's ASID) and `Ssp-InteractionID` (the interaction's
URN), and an `Authorization: Bearer` JWT made afresh for the request: unsecured (`alg`
none, empty signature), `exp` five minutes after `iat`, `reason_for_request` directcare,
`requested_scope` patient/*.read|write or organization/*.read by interaction, and the
requesting device, organisation and practitioner as minimal FHIR resources. Through the
proxy, the URL is `{ssp_url}/{provider service root}/...`; `aud` is the service root.

Errors follow adapters.errors: 5xx, 408 and transport failures are transient (retried a few
times here, with jitter); 429 is rate limited; a 409 on booking is `SlotUnavailable` (the
spec's DUPLICATE_REJECTED: the slot was taken since the search); other 4xx are permanent.
No error text holds an NHS number: query strings are never quoted.
"""

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx

from adapters import gp_connect_resources as resources
from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.gp_connect_resources import (
    AppointmentRecord,
    BookingOrganisation,
    FreeSlot,
)
from adapters.http_status import error_for_status, is_success
from adapters.retry import short_retry
from adapters.tls import shared_tls_context

FHIR_JSON: Final = "application/fhir+json"
T = TypeVar("T")
_URN: Final = "urn:nhs:names:services:gpconnect:fhir:rest:"
SEARCH_SLOTS: Final = _URN + "search:slot-1"
FIND_PATIENT: Final = _URN + "search:patient-1"
BOOK: Final = _URN + "create:appointment-1"
READ: Final = _URN + "read:appointment-1"
CANCEL: Final = _URN + "cancel:appointment-1"
_SCOPES: Final = {
    SEARCH_SLOTS: "organization/*.read",
    FIND_PATIENT: "patient/*.read",
    READ: "patient/*.read",
    BOOK: "patient/*.write",
    CANCEL: "patient/*.write",
}
# "SHALL request a maximum date range covering a two-week period" (Search for free slots).
MAX_WINDOW: Final = timedelta(days=14)
JWT_LIFETIME: Final = timedelta(minutes=5)


class SlotUnavailable(PermanentAdapterError):
    """The slot is no longer free (409 DUPLICATE_REJECTED): search again and choose another."""


@dataclass(frozen=True)
class GpConnectOptions:
    """How to reach one practice's GP Connect Appointment Management endpoint."""

    base_url: str  # the provider's service root, e.g. https://provider/GP0001/STU3/1
    consumer_asid: str
    provider_asid: str
    consumer_url: str  # the JWT `iss`: Liaison's own endpoint
    ssp_url: str | None = None  # Spine Secure Proxy prefix; None: call the provider directly
    organisation_type: str | None = None  # GPConnect-OrganisationType-1 code for searchFilter
    timeout: float = 10.0
    retry_attempts: int = 3
    retry_max_wait: float = 2.0
    retry_give_up_after: float = 8.0
    device_version: str = "1"


@dataclass(frozen=True)
class Requester:
    """Who asks, for the audit JWT: the practitioner and their organisation."""

    practitioner_id: str
    practitioner_name: str
    organisation_ods: str
    organisation_name: str


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def audit_jwt(
    options: GpConnectOptions, requester: Requester, *, interaction: str, now: float
) -> str:
    """The unsecured JWT GP Connect asks for on every request (a trailing `.`: no signature)."""
    issued = int(now)
    family, _, given = requester.practitioner_name.rpartition(" ")
    name = {"family": family or given, "given": [given] if family else []}
    claims = {
        "iss": options.consumer_url,
        "sub": requester.practitioner_id,
        "aud": options.base_url,
        "exp": issued + int(JWT_LIFETIME.total_seconds()),
        "iat": issued,
        "reason_for_request": "directcare",
        "requested_scope": _SCOPES[interaction],
        "requesting_device": {
            "resourceType": "Device",
            "identifier": [
                {"system": f"{options.consumer_url}/Id/device", "value": options.consumer_asid}
            ],
            "model": "Liaison",
            "version": options.device_version,
        },
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [{"system": resources.ODS_SYSTEM, "value": requester.organisation_ods}],
            "name": requester.organisation_name,
        },
        "requesting_practitioner": {
            "resourceType": "Practitioner",
            "id": requester.practitioner_id,
            "identifier": [
                # Not signed in with an NHS smartcard: the spec's `UNK`.
                {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "UNK"},
                {"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "UNK"},
                {"system": f"{options.consumer_url}/Id/user", "value": requester.practitioner_id},
            ],
            "name": [name],
        },
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


class GpConnectAppointments:
    """One practice's Appointment Management endpoint. Close it when done."""

    def __init__(
        self,
        options: GpConnectOptions,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._options = options
        self._clock = clock
        root = options.base_url.rstrip("/")
        self._base = f"{options.ssp_url.rstrip('/')}/{root}" if options.ssp_url else root
        self._http = httpx.Client(
            headers={"Accept": FHIR_JSON},
            timeout=options.timeout,
            transport=transport,
            verify=shared_tls_context(),
        )

    def search_free_slots(
        self, requester: Requester, *, start: datetime, end: datetime, consumer_ods: str
    ) -> list[FreeSlot]:
        """Free slots fully inside [start, end] (at most two weeks), with their schedule,
        practitioner and location."""
        if end <= start:
            raise ValueError("the window must end after it starts")
        if end - start > MAX_WINDOW:
            raise ValueError("the window may cover at most two weeks")
        params: list[tuple[str, str]] = [
            ("status", "free"),
            ("start", "ge" + resources.gp_connect_instant(start)),
            ("end", "le" + resources.gp_connect_instant(end)),
            ("_include", "Slot:schedule"),
            ("_include:recurse", "Schedule:actor:Practitioner"),
            ("_include:recurse", "Schedule:actor:Location"),
            ("_include:recurse", "Location:managingOrganization"),
            ("searchFilter", f"{resources.ODS_SYSTEM}|{consumer_ods}"),
        ]
        if self._options.organisation_type:
            params.append(
                (
                    "searchFilter",
                    f"{resources.ORGANISATION_TYPE_SYSTEM}|{self._options.organisation_type}",
                )
            )
        body = self._call(requester, SEARCH_SLOTS, "GET", "Slot", params=params)
        return _read(resources.free_slots, body)

    def find_patient(self, requester: Requester, nhs_number: str) -> str | None:
        """The provider's logical id for the patient (Find a patient), None if not there."""
        params = [("identifier", f"{resources.NHS_NUMBER_SYSTEM}|{nhs_number}")]
        body = self._call(requester, FIND_PATIENT, "GET", "Patient", params=params)
        return resources.patient_id_in(body, nhs_number)

    def book(
        self,
        requester: Requester,
        *,
        patient_id: str,
        slot: FreeSlot,
        organisation: BookingOrganisation,
        description: str,
        comment: str | None = None,
    ) -> AppointmentRecord:
        body = resources.appointment_to_book(
            patient_id=patient_id,
            slot=slot,
            organisation=organisation,
            description=description,
            comment=comment,
            created=datetime.fromtimestamp(self._clock()).astimezone(),
        )
        answer = self._call(requester, BOOK, "POST", "Appointment", json_body=body)
        return _read(resources.appointment_record, answer)

    def read(self, requester: Requester, appointment_id: str) -> AppointmentRecord:
        answer = self._call(requester, READ, "GET", f"Appointment/{appointment_id}")
        return _read(resources.appointment_record, answer)

    def cancel(self, requester: Requester, appointment_id: str, reason: str) -> AppointmentRecord:
        """Read the appointment, then send it back cancelled with `If-Match` on its version."""
        current = self.read(requester, appointment_id)
        if current.status == "cancelled":
            return current
        headers = {"If-Match": f'W/"{current.version_id}"'} if current.version_id else {}
        answer = self._call(
            requester,
            CANCEL,
            "PUT",
            f"Appointment/{appointment_id}",
            json_body=resources.cancellation_of(current, reason),
            headers=headers,
        )
        return _read(resources.appointment_record, answer)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self,
        requester: Requester,
        interaction: str,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            # A fresh trace id and token per request, as the specification requires.
            sent = {
                "Ssp-TraceID": str(uuid.uuid4()),
                "Ssp-From": self._options.consumer_asid,
                "Ssp-To": self._options.provider_asid,
                "Ssp-InteractionID": interaction,
                "Authorization": "Bearer "
                + audit_jwt(self._options, requester, interaction=interaction, now=self._clock()),
                **(headers or {}),
            }
            content = None
            if json_body is not None:
                sent["Content-Type"] = FHIR_JSON
                content = json.dumps(json_body).encode()
            try:
                response = self._http.request(
                    method,
                    f"{self._base}/{path}",
                    params=tuple(params or ()),
                    content=content,
                    headers=sent,
                )
            except httpx.TransportError as error:
                raise TransientAdapterError(
                    f"{method} /{path.split('/')[0]}: {type(error).__name__}"
                ) from error
            return _answer(response, method, path)

        # A booking is never repeated here: one whose answer was lost may have been made, and
        # asking again would be refused (the slot is taken) or book twice.
        policy = short_retry(
            attempts=1 if interaction == BOOK else self._options.retry_attempts,
            max_wait=self._options.retry_max_wait,
            give_up_after=self._options.retry_give_up_after,
        )
        result: dict[str, Any] = policy(attempt)
        return result


def _read(parse: Callable[[dict[str, Any]], T], body: dict[str, Any]) -> T:
    try:
        return parse(body)
    except resources.UnreadableResource as error:
        raise PermanentAdapterError(f"GP Connect answer unreadable: {error}") from error


def _issue_code(response: httpx.Response) -> str:
    """The GP Connect error code of an OperationOutcome (`issue.details.coding.code`)."""
    try:
        outcome = response.json()
    except ValueError:
        return ""
    if not isinstance(outcome, dict):
        return ""
    for issue in outcome.get("issue", []):
        for coding in (issue.get("details") or {}).get("coding", []):
            if coding.get("code"):
                return str(coding["code"])
        if issue.get("code"):
            return str(issue["code"])
    return ""


def _answer(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    status = response.status_code
    # The resource type only: a path can hold ids, never a query with an NHS number.
    what = f"{method} /{path.split('/')[0]} answered {status}"
    if is_success(status):
        try:
            body = response.json()
        except ValueError as error:
            raise TransientAdapterError(f"{what}: unreadable body", status_code=status) from error
        if not isinstance(body, dict):
            raise TransientAdapterError(f"{what}: not a resource", status_code=status)
        return body
    code = _issue_code(response)
    told = f"{what} {code}".rstrip()
    if status == 409 and method == "POST":
        raise SlotUnavailable(told, status_code=status)
    raise error_for_status(status, told, retry_after=response.headers.get("Retry-After"))
