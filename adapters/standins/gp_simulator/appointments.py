"""A practice's GP Connect Appointment Management endpoint (FHIR STU3), in memory.

Served at `/gpconnect/{ods}/STU3/1` by the simulator. Only the practices in `OFFERS_BOOKING`
have slots: every UK weekday from 09:00 to 12:00, fifteen minutes each, for the next two weeks.
It refuses what a provider must refuse (GP Connect 1.2, github.com/nhsconnect/gpconnect,
pages/appointments/ and pages/development/development_fhir_error_handling_guidance.md): a
request without the Ssp-* headers or the audit JWT, a slot search without `status=free` or
`_include=Slot:schedule` or over two weeks, a booking with `reason` or without the booking
organisation, a slot no longer free (409 DUPLICATE_REJECTED), a cancellation on a stale
version (409) or one that changes more than the status and reason.
"""

import base64
import binascii
import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import JSONResponse

UK: Final = ZoneInfo("Europe/London")
OFFERS_BOOKING: Final = frozenset({"Y00003"})
SLOT_MINUTES: Final = 15
SPINE_CODES: Final = "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1"
BOOKING_ORG: Final = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-BookingOrganisation-1"
)
CANCEL_REASON: Final = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-AppointmentCancellationReason-1"
_URN: Final = "urn:nhs:names:services:gpconnect:fhir:rest:"
LOCATION: Final = {
    "resourceType": "Location",
    "id": "1",
    "name": "Riverside Surgery",
    "address": {"line": ["1 Station Road"], "city": "Leeds", "postalCode": "LS1 1AA"},
    "managingOrganization": {"reference": "Organization/1"},
}
PRACTITIONER: Final = {
    "resourceType": "Practitioner",
    "id": "1",
    "name": [{"family": "Patel", "given": ["Asha"], "prefix": ["Dr"]}],
    "gender": "female",
}


class GpcError(Exception):
    def __init__(self, status: int, issue: str, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status, self.issue, self.code, self.diagnostics = status, issue, code, diagnostics


def outcome(error: GpcError) -> JSONResponse:
    body = {
        "resourceType": "OperationOutcome",
        "meta": {
            "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1"]
        },
        "issue": [
            {
                "severity": "error",
                "code": error.issue,
                "details": {"coding": [{"system": SPINE_CODES, "code": error.code}]},
                "diagnostics": error.diagnostics,
            }
        ],
    }
    return JSONResponse(body, status_code=error.status, media_type="application/fhir+json")


def _instant(moment: datetime) -> str:
    return moment.astimezone(UK).isoformat(timespec="seconds")


def parse_instant(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise GpcError(422, "invalid", "INVALID_PARAMETER", f"{what} is not a date") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UK)


class AppointmentBook:
    """Slots and appointments of the simulated practices. Thread-safe."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._appointments: dict[str, dict[str, Any]] = {}  # id -> Appointment
        self._practice_of: dict[str, str] = {}  # appointment id -> ODS code
        self._taken: set[tuple[str, str]] = set()  # (ODS code, slot id)
        self.calls: list[dict[str, str]] = []  # the headers of every request (for tests)

    def slots(self, ods: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        if ods not in OFFERS_BOOKING:
            return []
        today = self.clock().astimezone(UK).date()
        found: list[dict[str, Any]] = []
        for offset in range(15):
            day = today + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            moment = datetime.combine(day, time(9, 0), tzinfo=UK)
            while moment.time() < time(12, 0):
                finish = moment + timedelta(minutes=SLOT_MINUTES)
                slot_id = moment.strftime("%Y%m%d%H%M")
                future = moment > self.clock()
                free = (ods, slot_id) not in self._taken
                if future and free and start <= moment and finish <= end:
                    found.append(_slot(slot_id, moment, finish))
                moment = finish
        return found

    def book(self, ods: str, appointment: dict[str, Any]) -> dict[str, Any]:
        slot_ids = _slot_ids(appointment)
        with self._lock:
            for slot_id in slot_ids:
                if (ods, slot_id) in self._taken:
                    raise GpcError(
                        409, "duplicate", "DUPLICATE_REJECTED", f"Slot/{slot_id} is not free"
                    )
            start = parse_instant(str(appointment.get("start")), "start")
            end = parse_instant(str(appointment.get("end")), "end")
            expected = self.slots(ods, start, end)
            if [s["id"] for s in expected] != slot_ids:
                raise GpcError(
                    422, "invalid", "INVALID_RESOURCE", "start and end do not match the slot"
                )
            appointment_id = str(len(self._appointments) + 1)
            stored = {
                **deepcopy(appointment),
                "id": appointment_id,
                "meta": {**appointment.get("meta", {}), "versionId": "1"},
                "serviceType": [{"text": "General GP Appointment"}],
            }
            self._appointments[appointment_id] = stored
            self._practice_of[appointment_id] = ods
            self._taken.update((ods, s) for s in slot_ids)
            return deepcopy(stored)

    def read(self, ods: str, appointment_id: str) -> dict[str, Any]:
        with self._lock:
            found = self._appointments.get(appointment_id)
            if found is None or self._practice_of.get(appointment_id) != ods:
                raise GpcError(404, "not-found", "NO_RECORD_FOUND", f"Appointment/{appointment_id}")
            return deepcopy(found)

    def cancel(
        self, ods: str, appointment_id: str, body: dict[str, Any], if_match: str | None
    ) -> dict[str, Any]:
        current = self.read(ods, appointment_id)
        version = current["meta"]["versionId"]
        if if_match != f'W/"{version}"':
            raise GpcError(409, "conflict", "FHIR_CONSTRAINT_VIOLATION", "version does not match")
        changed = {k for k in set(body) | set(current) if body.get(k) != current.get(k)}
        if changed - {"status", "extension"} or body.get("status") != "cancelled":
            raise GpcError(422, "invalid", "INVALID_RESOURCE", "only status and reason may change")
        if not any(e.get("url") == CANCEL_REASON for e in body.get("extension", [])):
            raise GpcError(422, "invalid", "INVALID_RESOURCE", "a cancellation reason is required")
        with self._lock:
            self._taken.difference_update((ods, s) for s in _slot_ids(current))
            return self._store_version(appointment_id, {**body, "status": "cancelled"})

    def record_attendance(self, ods: str, appointment_id: str, status: str) -> dict[str, Any]:
        """The practice records what happened: `fulfilled`, `arrived` or `noshow`."""
        current = self.read(ods, appointment_id)
        with self._lock:
            return self._store_version(appointment_id, {**current, "status": status})

    def booked(self) -> list[dict[str, Any]]:
        with self._lock:
            return [deepcopy(a) for a in self._appointments.values()]

    def _store_version(self, appointment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        version = int(self._appointments[appointment_id]["meta"]["versionId"]) + 1
        stored = {**deepcopy(body), "meta": {**body.get("meta", {}), "versionId": str(version)}}
        self._appointments[appointment_id] = stored
        return deepcopy(stored)


def _slot(slot_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "id": slot_id,
        "meta": {"profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Slot-1"]},
        "extension": [
            {
                "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2",
                "valueCode": "In-person",
            }
        ],
        "serviceType": [{"text": "General GP Appointment"}],
        "schedule": {"reference": "Schedule/1"},
        "status": "free",
        "start": _instant(start),
        "end": _instant(end),
    }


def _slot_ids(appointment: dict[str, Any]) -> list[str]:
    ids = [str(s.get("reference", "")).removeprefix("Slot/") for s in appointment.get("slot", [])]
    if not ids or not all(ids):
        raise GpcError(422, "invalid", "INVALID_RESOURCE", "no slot to book")
    return ids


def check_headers(request: Request, interaction: str) -> None:
    headers = request.headers
    for name in ("Ssp-TraceID", "Ssp-From", "Ssp-To", "Ssp-InteractionID"):
        if not headers.get(name):
            raise GpcError(400, "invalid", "BAD_REQUEST", f"{name} header is missing")
    try:
        uuid.UUID(headers["Ssp-TraceID"])
    except ValueError as error:
        raise GpcError(400, "invalid", "BAD_REQUEST", "Ssp-TraceID is not a UUID") from error
    if headers["Ssp-InteractionID"] != _URN + interaction:
        raise GpcError(400, "invalid", "BAD_REQUEST", "Ssp-InteractionID does not match")
    claims = _claims(headers.get("Authorization", ""))
    if claims.get("exp", 0) - claims.get("iat", 0) != 300:
        raise GpcError(400, "invalid", "BAD_REQUEST", "the JWT must expire 5 minutes after iat")
    for claim in ("requesting_device", "requesting_organization", "requesting_practitioner"):
        if not isinstance(claims.get(claim), dict):
            raise GpcError(400, "invalid", "BAD_REQUEST", f"the JWT has no {claim}")
    if claims.get("reason_for_request") != "directcare":
        raise GpcError(400, "invalid", "BAD_REQUEST", "reason_for_request must be directcare")


def _claims(authorization: str) -> dict[str, Any]:
    token = authorization.removeprefix("Bearer ")
    parts = token.split(".")
    if not authorization.startswith("Bearer ") or len(parts) != 3 or parts[2]:
        raise GpcError(400, "invalid", "BAD_REQUEST", "Authorization is not an unsigned JWT")
    try:
        header, claims = (
            json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2]
        )
    except (ValueError, binascii.Error) as error:
        raise GpcError(400, "invalid", "BAD_REQUEST", "the JWT is not readable") from error
    if header.get("alg") != "none":
        raise GpcError(400, "invalid", "BAD_REQUEST", "the JWT alg must be none")
    return dict(claims)


def patient_id(nhs_number: str) -> str:
    return hashlib.sha256(nhs_number.encode()).hexdigest()[:12]
