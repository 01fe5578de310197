"""A stand-in for PDS FHIR R4's patient read, for development and tests only.

It answers as the published specification says (NHSDigital/personal-demographics-service-api,
specification/components/paths/patient-get.yaml): 400 `MISSING_VALUE` / `INVALID_VALUE`
without a UUID `X-Request-ID`, 400 `INVALID_RESOURCE_ID` for an invalid NHS number, 404
`RESOURCE_NOT_FOUND` for an unknown one, 200 with the current record for a superseded
number, restricted records without address or practice, `X-Request-ID` and
`X-Correlation-ID` mirrored back and an `ETag` of the version. Like NHS England's sandbox it
needs no access token.

`/_pds/...` is the stand-in's own control surface for tests: re-register a patient, make PDS
unavailable for a while, and see the headers of the requests it received.
"""

import re
import threading
import time
from collections import deque
from typing import Any, Final

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from nhs_number import is_valid
from pydantic import BaseModel, Field

from adapters.standins.pds.patients import SUPERSESSIONS, CannedPatient, canned, moved, resource

SPINE_CODES: Final = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"
_UUID: Final = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class FhirResponse(JSONResponse):
    media_type = "application/fhir+json"


class Registration(BaseModel):
    ods_code: str = Field(pattern=r"^[A-Z0-9]{3,10}$")


class Outage(BaseModel):
    down_seconds: float = Field(ge=0, le=3600)


class PdsState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.patients: dict[str, CannedPatient] = canned()
        self.versions: dict[str, int] = dict.fromkeys(self.patients, 1)
        self.down_until = 0.0
        self.requests: deque[dict[str, str | None]] = deque(maxlen=1000)


def _outcome(status: int, code: str, display: str, issue: str, diagnostics: str) -> FhirResponse:
    return FhirResponse(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": issue,
                    "details": {
                        "coding": [
                            {
                                "system": SPINE_CODES,
                                "version": "1",
                                "code": code,
                                "display": display,
                            }
                        ]
                    },
                    "diagnostics": diagnostics,
                }
            ],
        },
        status_code=status,
    )


def create_app() -> FastAPI:
    state = PdsState()
    app = FastAPI(title="Liaison PDS stand-in", docs_url=None, redoc_url=None)
    app.state.pds = state
    app.include_router(_fhir_routes(state), prefix="/personal-demographics/FHIR/R4")
    app.include_router(_control_routes(state), prefix="/_pds")
    return app


def _fhir_routes(state: PdsState) -> APIRouter:
    router = APIRouter()

    @router.get("/Patient/{nhs_number}")
    def read_patient(nhs_number: str, request: Request) -> FhirResponse:
        request_id = request.headers.get("x-request-id")
        correlation_id = request.headers.get("x-correlation-id")
        with state.lock:
            state.requests.append(
                {
                    "x-request-id": request_id,
                    "x-correlation-id": correlation_id,
                    "nhsd-end-user-organisation-ods": request.headers.get(
                        "nhsd-end-user-organisation-ods"
                    ),
                }
            )
            down = time.monotonic() < state.down_until
        response = _answer(state, nhs_number, request_id, down=down)
        if request_id:
            response.headers["X-Request-ID"] = request_id
        if correlation_id:
            response.headers["X-Correlation-ID"] = correlation_id
        return response

    return router


def _answer(
    state: PdsState, nhs_number: str, request_id: str | None, *, down: bool
) -> FhirResponse:
    if down:
        return _outcome(
            503, "SERVICE_UNAVAILABLE", "Service unavailable", "transient", "PDS is unavailable"
        )
    if not request_id:
        return _outcome(
            400,
            "MISSING_VALUE",
            "Required value is missing",
            "required",
            "Invalid request with error - X-Request-ID header must be supplied to access this resource",  # noqa: E501
        )
    if not _UUID.match(request_id):
        return _outcome(
            400,
            "INVALID_VALUE",
            "Provided value is invalid",
            "value",
            "Invalid value - 'X-Request-ID' in header 'X-Request-ID'",
        )
    if not (nhs_number.isdigit() and len(nhs_number) == 10 and is_valid(nhs_number)):
        return _outcome(
            400, "INVALID_RESOURCE_ID", "Resource Id is invalid", "value", "Invalid NHS number"
        )
    with state.lock:
        current = SUPERSESSIONS.get(nhs_number, nhs_number)
        patient = state.patients.get(current)
        version = state.versions.get(current, 1)
    if patient is None:
        return _outcome(
            404,
            "RESOURCE_NOT_FOUND",
            "Resource not found",
            "not-found",
            "Patient does not exist for given NHS number",
        )
    response = FhirResponse(resource(patient, version=version))
    response.headers["ETag"] = f'W/"{version}"'
    return response


def _control_routes(state: PdsState) -> APIRouter:
    router = APIRouter()

    @router.put("/patients/{nhs_number}/registration")
    def register(nhs_number: str, change: Registration) -> dict[str, Any]:
        """The patient re-registers with another practice."""
        with state.lock:
            patient = state.patients.get(nhs_number)
            if patient is None:
                return {"changed": False}
            state.patients[nhs_number] = moved(patient, change.ods_code)
            state.versions[nhs_number] = state.versions.get(nhs_number, 1) + 1
        return {"changed": True}

    @router.post("/outage")
    def outage(change: Outage) -> dict[str, float]:
        with state.lock:
            state.down_until = time.monotonic() + change.down_seconds
        return {"down_seconds": change.down_seconds}

    @router.get("/requests")
    def requests() -> list[dict[str, str | None]]:
        with state.lock:
            return list(state.requests)

    return router


def main(host: str, port: int) -> None:
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
