"""A GP practice's FHIR R4 endpoint, in memory, for tests and demos.

Run it as its own process (`main`, or
`uvicorn --factory adapters.standins.gp_simulator.app:create_app`) so Liaison talks to it
over real HTTP, as it would to a practice.
"""

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from adapters.standins.gp_simulator import appointment_routes, scripts, search
from adapters.standins.gp_simulator.appointments import AppointmentBook
from adapters.standins.gp_simulator.store import FhirError, SimulatorStore, ods_code_of_bundle

READABLE: Final = frozenset({"Task", "MedicationRequest", "CommunicationRequest"})
_FAULT_ISSUE: Final = {503: "transient", 500: "exception"}


class FaultChange(BaseModel):
    practice: str | None = None
    down_seconds: float | None = Field(default=None, ge=0)
    failure_rate: float | None = Field(default=None, ge=0, le=1)
    hold_response_seconds: float | None = Field(default=None, ge=0, le=600)


class FhirResponse(JSONResponse):
    media_type = "application/fhir+json"


def create_app(
    *, step_seconds: float = 2.0, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    store = SimulatorStore(step_seconds=step_seconds, clock=clock or _utc_now)
    app = FastAPI(title="Liaison GP practice simulator", docs_url=None, redoc_url=None)
    app.state.store = store
    # GP Connect Appointment Management (FHIR STU3), one service root per practice.
    book = AppointmentBook(clock=store.clock)
    app.state.appointments = book
    app.include_router(_fhir_routes(store), prefix="/fhir")
    app.include_router(_withdrawal_routes(store), prefix="/fhir")
    app.include_router(appointment_routes.build(book), prefix="/gpconnect")
    app.include_router(_simulator_routes(store), prefix="/_sim")
    app.include_router(appointment_routes.simulator_controls(book), prefix="/_sim")
    return app


def main(host: str, port: int, step_seconds: float) -> None:
    """Serve the simulator. Logging is the calling process's (`liaison simulator` configures
    Liaison's JSON logging): log_config=None stops uvicorn replacing it with its plain-text
    handlers, and its access log, one raw line per request, stays off as the API's does."""
    uvicorn.run(
        create_app(step_seconds=step_seconds),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
    )


def _fhir_routes(store: SimulatorStore) -> APIRouter:
    router = APIRouter()

    @router.get("/metadata")
    def capability_statement() -> FhirResponse:
        return FhirResponse(_capability_statement(store.clock()))

    @router.post("")
    async def transaction(request: Request) -> FhirResponse:
        body = await request.body()
        # Off the event loop, so simultaneous transactions really do contend for the lock.
        return await run_in_threadpool(_transaction, store, body)

    @router.get("/Task")
    def search_tasks(request: Request) -> FhirResponse:
        params = request.query_params
        fault = store.record_call("search", search.practice_of(params.get("owner")))
        if fault:
            return _fault(fault)
        try:
            query = search.parse_query(params, params.getlist("_lastUpdated"))
        except FhirError as error:
            return _refusal(error)
        snapshot = query.snapshot or store.clock()
        candidates = store.tasks_as_of(snapshot, ods_code=query.owner_value)
        if params.get("identifier"):
            wanted = {task["id"] for task in store.find("Task", params["identifier"])}
            candidates = [task for task in candidates if task["id"] in wanted]
        found = search.matching(candidates, query)
        page = found[query.offset : query.offset + query.count]
        links = [{"relation": "self", "url": str(request.url)}]
        if query.count and query.offset + query.count < len(found):
            token = search.page_token(snapshot, query.offset + query.count)
            links.append(
                {"relation": "next", "url": str(request.url.include_query_params(_page=token))}
            )
        base = f"{str(request.base_url).rstrip('/')}/fhir"
        return FhirResponse(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(found),
                "link": links,
                "entry": [
                    {
                        "fullUrl": f"{base}/Task/{task['id']}",
                        "resource": task,
                        "search": {"mode": "match"},
                    }
                    for task in page
                ],
            }
        )

    @router.get("/{resource_type}/{resource_id}")
    def read(resource_type: str, resource_id: str) -> FhirResponse:
        if resource_type not in READABLE:
            return _refusal(FhirError(404, "not-supported", f"{resource_type} is not served"))
        fault = store.record_call("read", store.ods_code_of(resource_type, resource_id))
        if fault:
            return _fault(fault)
        resource = store.read(resource_type, resource_id)
        if resource is None:
            return _refusal(FhirError(404, "not-found", f"{resource_type}/{resource_id}"))
        return FhirResponse(resource)

    return router


def _withdrawal_routes(store: SimulatorStore) -> APIRouter:
    """What a withdrawal needs: find a request's resources by identifier, update them."""
    router = APIRouter()

    @router.get("/MedicationRequest")
    def search_medication_requests(request: Request) -> FhirResponse:
        token = request.query_params.get("identifier")
        if not token:
            return _refusal(FhirError(400, "not-supported", "search by identifier only"))
        found = store.find("MedicationRequest", token)
        practice = store.ods_code_of("MedicationRequest", found[0]["id"]) if found else None
        fault = store.record_call("search", practice)
        if fault:
            return _fault(fault)
        return FhirResponse(search.searchset(found, str(request.url), _base(request)))

    @router.put("/{resource_type}/{resource_id}")
    async def update(request: Request, resource_type: str, resource_id: str) -> FhirResponse:
        if resource_type not in READABLE:
            return _refusal(FhirError(404, "not-supported", f"{resource_type} is not served"))
        fault = store.record_call("put", store.ods_code_of(resource_type, resource_id))
        if fault:
            return _fault(fault)
        try:
            body = json.loads(await request.body())
            updated = store.update(
                resource_type, resource_id, body, if_match=request.headers.get("if-match")
            )
        except ValueError:
            return _refusal(FhirError(400, "structure", "body is not JSON"))
        except FhirError as error:
            return _refusal(error)
        version = updated["meta"]["versionId"]
        return FhirResponse(updated, headers={"ETag": f'W/"{version}"'})

    return router


def _simulator_routes(store: SimulatorStore) -> APIRouter:
    router = APIRouter()

    @router.get("/received")
    def received() -> list[dict[str, Any]]:
        return store.received()

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        return store.stats()

    @router.post("/reset")
    def reset() -> dict[str, str]:
        store.reset()
        return {"status": "reset"}

    @router.put("/faults")
    def faults(change: FaultChange) -> dict[str, str]:
        """Inject faults at run time (tests and the chaos suite)."""
        store.set_faults(
            practice=change.practice,
            down_seconds=change.down_seconds,
            failure_rate=change.failure_rate,
            hold_response_seconds=change.hold_response_seconds,
        )
        return {"status": "set"}

    return router


def _transaction(store: SimulatorStore, body: bytes) -> FhirResponse:
    try:
        bundle = json.loads(body)
    except ValueError:
        store.record_call("post", None)
        return _refusal(FhirError(400, "structure", "body is not JSON"))
    # The fault comes before storing anything, as a failing server would.
    fault = store.record_call("post", ods_code_of_bundle(bundle))
    if fault:
        return _fault(fault)
    try:
        response = FhirResponse(store.transact(bundle))
        hold = store.hold_for(ods_code_of_bundle(bundle))
        if hold:
            # Stored, but the answer is late: the client may die before it commits.
            time.sleep(hold)
        return response
    except FhirError as error:
        return _refusal(error)


def _base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/fhir"


def _outcome(code: str, diagnostics: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


def _refusal(error: FhirError) -> FhirResponse:
    return FhirResponse(_outcome(error.code, error.diagnostics), status_code=error.status_code)


def _fault(status_code: int) -> FhirResponse:
    return FhirResponse(
        _outcome(_FAULT_ISSUE.get(status_code, "exception"), "simulated practice fault"),
        status_code=status_code,
    )


def _capability_statement(now: datetime) -> dict[str, Any]:
    def stored(resource_type: str, *, updated: bool = False) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "type": resource_type,
            "interaction": [{"code": "read"}],
            "conditionalCreate": True,
        }
        if updated:
            resource["interaction"] += [{"code": "update"}, {"code": "search-type"}]
            resource["versioning"] = "versioned-update"
            resource["searchParam"] = [{"name": "identifier", "type": "token"}]
        return resource

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": scripts.instant(now),
        "kind": "instance",
        "software": {"name": "Liaison GP practice simulator"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}],
                "resource": [
                    {
                        "type": "Task",
                        "interaction": [
                            {"code": "read"},
                            {"code": "update"},
                            {"code": "search-type"},
                        ],
                        "versioning": "versioned-update",
                        "conditionalCreate": True,
                        "searchParam": [
                            {"name": "owner", "type": "reference"},
                            {"name": "identifier", "type": "token"},
                            {"name": "_lastUpdated", "type": "date"},
                        ],
                    },
                    stored("MedicationRequest", updated=True),
                    stored("CommunicationRequest"),
                ],
            }
        ],
    }


def _utc_now() -> datetime:
    return datetime.now(UTC)
