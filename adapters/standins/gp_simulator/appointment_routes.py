"""The HTTP face of the simulated GP Connect Appointment Management endpoint."""

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.standins.gp_simulator.appointments import (
    BOOKING_ORG,
    LOCATION,
    PRACTITIONER,
    UK,
    AppointmentBook,
    GpcError,
    check_headers,
    outcome,
    parse_instant,
    patient_id,
)


class FhirJson(JSONResponse):
    media_type = "application/fhir+json"


class Attendance(BaseModel):
    status: str


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def _window(request: Request) -> tuple[Any, Any]:
    params = request.query_params
    if params.get("status") != "free" or params.getlist("status") != ["free"]:
        raise GpcError(422, "invalid", "INVALID_PARAMETER", "status=free is required")
    if "Slot:schedule" not in params.getlist("_include"):
        raise GpcError(422, "invalid", "INVALID_PARAMETER", "_include=Slot:schedule is required")
    starts, ends = params.getlist("start"), params.getlist("end")
    if len(starts) != 1 or len(ends) != 1:
        raise GpcError(422, "invalid", "INVALID_PARAMETER", "start and end once each")
    if not starts[0].startswith("ge") or not ends[0].startswith("le"):
        raise GpcError(422, "invalid", "INVALID_PARAMETER", "start needs ge and end needs le")
    start, end = parse_instant(starts[0][2:], "start"), parse_instant(ends[0][2:], "end")
    if end - start > timedelta(days=14):
        raise GpcError(422, "invalid", "INVALID_PARAMETER", "at most a two-week window")
    return start, end


def _check_booking(body: dict[str, Any]) -> None:
    if body.get("resourceType") != "Appointment" or body.get("status") != "booked":
        raise GpcError(422, "invalid", "INVALID_RESOURCE", "a booked Appointment is required")
    for forbidden in ("reason", "specialty"):
        if forbidden in body:
            raise GpcError(422, "invalid", "INVALID_RESOURCE", f"{forbidden} must not be sent")
    description = body.get("description")
    if not isinstance(description, str) or not 0 < len(description) <= 100:
        raise GpcError(422, "invalid", "INVALID_RESOURCE", "description of 1-100 characters")
    if len(str(body.get("comment", ""))) > 500:
        raise GpcError(422, "invalid", "INVALID_RESOURCE", "comment over 500 characters")
    reference = next(
        (
            e.get("valueReference", {}).get("reference")
            for e in body.get("extension", [])
            if e.get("url") == BOOKING_ORG
        ),
        None,
    )
    contained = {f"#{c.get('id')}": c for c in body.get("contained", [])}
    organisation = contained.get(str(reference))
    if not organisation or not organisation.get("name") or not organisation.get("telecom"):
        raise GpcError(422, "invalid", "INVALID_RESOURCE", "the booking organisation is missing")
    if not organisation.get("identifier"):
        raise GpcError(422, "invalid", "INVALID_RESOURCE", "the booking organisation has no ODS")
    actors = [str(p.get("actor", {}).get("reference", "")) for p in body.get("participant", [])]
    if not any(a.startswith("Patient/") for a in actors) or not any(
        a.startswith("Location/") for a in actors
    ):
        raise GpcError(422, "invalid", "INVALID_RESOURCE", "patient and location participants")
    if not body.get("created"):
        raise GpcError(422, "invalid", "INVALID_RESOURCE", "created is required")


def _slot_context(ods: str) -> list[dict[str, Any]]:
    """The Schedule, Practitioner, Location and Organization a slot search includes."""
    return [
        {
            "resourceType": "Schedule",
            "id": "1",
            "actor": [{"reference": "Location/1"}, {"reference": "Practitioner/1"}],
            "serviceCategory": {"text": "General GP Appointments"},
        },
        PRACTITIONER,
        LOCATION,
        {
            "resourceType": "Organization",
            "id": "1",
            "identifier": [
                {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": ods}
            ],
            "name": "Riverside Surgery",
        },
    ]


def build(book: AppointmentBook) -> APIRouter:
    router = APIRouter()
    root = "/{ods}/STU3/1"

    def guarded(request: Request, interaction: str) -> None:
        book.calls.append({k: v for k, v in request.headers.items() if k.startswith("ssp-")})
        check_headers(request, interaction)

    @router.get(root + "/Slot")
    def search_slots(ods: str, request: Request) -> JSONResponse:
        try:
            guarded(request, "search:slot-1")
            start, end = _window(request)
        except GpcError as error:
            return outcome(error)
        slots = book.slots(ods, start, end)
        extra = _slot_context(ods) if slots else []
        return FhirJson(_bundle([*slots, *extra]))

    @router.get(root + "/Patient")
    def find_patient(ods: str, request: Request) -> JSONResponse:
        try:
            guarded(request, "search:patient-1")
        except GpcError as error:
            return outcome(error)
        system, _, number = request.query_params.get("identifier", "").partition("|")
        if system != "https://fhir.nhs.uk/Id/nhs-number" or not number.isdigit():
            return outcome(GpcError(422, "invalid", "INVALID_PARAMETER", "identifier"))
        patient = {
            "resourceType": "Patient",
            "id": patient_id(number),
            "identifier": [{"system": system, "value": number}],
        }
        return FhirJson(_bundle([patient]))

    @router.post(root + "/Appointment")
    async def book_appointment(ods: str, request: Request) -> JSONResponse:
        try:
            guarded(request, "create:appointment-1")
            body = json.loads(await request.body())
            _check_booking(body)
            if parse_instant(str(body.get("start")), "start") <= book.clock().astimezone(UK):
                raise GpcError(422, "invalid", "INVALID_RESOURCE", "the slot is in the past")
            stored = book.book(ods, body)
        except ValueError:
            return outcome(GpcError(400, "invalid", "BAD_REQUEST", "body is not JSON"))
        except GpcError as error:
            return outcome(error)
        return FhirJson(
            stored, status_code=201, headers={"Location": f"Appointment/{stored['id']}"}
        )

    @router.get(root + "/Appointment/{appointment_id}")
    def read_appointment(ods: str, appointment_id: str, request: Request) -> JSONResponse:
        try:
            guarded(request, "read:appointment-1")
            return FhirJson(book.read(ods, appointment_id))
        except GpcError as error:
            return outcome(error)

    @router.put(root + "/Appointment/{appointment_id}")
    async def cancel_appointment(ods: str, appointment_id: str, request: Request) -> JSONResponse:
        try:
            guarded(request, "cancel:appointment-1")
            body = json.loads(await request.body())
            stored = book.cancel(ods, appointment_id, body, request.headers.get("If-Match"))
        except ValueError:
            return outcome(GpcError(400, "invalid", "BAD_REQUEST", "body is not JSON"))
        except GpcError as error:
            return outcome(error)
        return FhirJson(stored)

    return router


def simulator_controls(book: AppointmentBook) -> APIRouter:
    """Under /_sim: what was booked, and the practice recording attendance."""
    router = APIRouter()

    @router.get("/appointments")
    def booked() -> list[dict[str, Any]]:
        return book.booked()

    @router.put("/gpconnect/{ods}/appointments/{appointment_id}/attendance")
    def attendance(ods: str, appointment_id: str, change: Attendance) -> JSONResponse:
        if change.status not in ("fulfilled", "arrived", "noshow"):
            return JSONResponse({"detail": "status: fulfilled, arrived or noshow"}, 422)
        try:
            return JSONResponse(book.record_attendance(ods, appointment_id, change.status))
        except GpcError as error:
            return outcome(error)

    return router
