"""`GET /fhir/AuditEvent`: the audit trail (gateway.api.middleware.audit_trail) read as FHIR
AuditEvent, searched by the `ops` scope by recommendation (`entity`), client (`agent`) and
date.
"""

import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from gateway.api.dependencies import OpsClient, UnitOfWorkDep
from gateway.api.fhir.params import SearchError, date_bound
from gateway.api.fhir.searchset import searchset
from gateway.api.links import next_page_url, public_base
from gateway.api.problems import problem
from gateway.security import audit
from gateway.store.repositories.fhir_search import DateBound

FHIR_JSON = "application/fhir+json"


class FhirJSONResponse(JSONResponse):
    media_type = FHIR_JSON


router = APIRouter(prefix="/fhir/AuditEvent", tags=["audit"])


_RECORD_ID = re.compile(r"[0-9]{1,17}")


class _BadParameter(Exception):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(detail)
        self.name = name
        self.detail = detail


# The prefixes the trail answers; `ne` would ask for nearly the whole trail at once.
_PREFIXES: Final = frozenset({"eq", "gt", "ge", "lt", "le"})


def _recorded(values: list[str]) -> tuple[DateBound, ...]:
    """FHIR date search on when each record was written, read as every FHIR search is."""
    bounds: list[DateBound] = []
    for value in values:
        try:
            bound = date_bound(value, "date")
        except SearchError as exc:
            raise _BadParameter(
                "date",
                f"date: {value!r} {exc} (e.g. ge2026-11-01 or lt2026-11-26T12:00:00Z)",
            ) from exc
        if bound.comparator not in _PREFIXES:
            raise _BadParameter("date", f"date: prefix {bound.comparator!r} is not supported here")
        bounds.append(bound)
    return tuple(bounds)


def _entity(value: str | None) -> str | None:
    if value is None:
        return None
    # Accept the bare id, an identifier token (system|value) or a reference-like path.
    recommendation_id = value.split("|", 1)[1] if "|" in value else value.rsplit("/", 1)[-1]
    if not recommendation_id or len(recommendation_id) > 36:
        raise _BadParameter("entity", "entity: a recommendation id (up to 36 characters)")
    return recommendation_id


def _bundle(
    request: Request, events: list[dict[str, Any]], total: int, next_url: str | None
) -> dict[str, Any]:
    base = public_base(request)
    entries = [
        {
            "fullUrl": f"{base}/fhir/AuditEvent/{event['id']}",
            "resource": event,
            "search": {"mode": "match"},
        }
        for event in events
    ]
    return searchset(request, entries, total, next_url)


@router.get(
    "",
    response_class=FhirJSONResponse,
    summary="Search the audit trail (scope ops)",
    responses={400: {"description": "a search parameter is malformed (OperationOutcome)"}},
)
def search_audit_events(
    request: Request,
    uow: UnitOfWorkDep,
    principal: OpsClient,
    entity: Annotated[
        str | None, Query(max_length=300, description="recommendation id (or system|id)")
    ] = None,
    agent: Annotated[str | None, Query(max_length=100, description="client id")] = None,
    date_: Annotated[
        list[str] | None,
        Query(alias="date", description="ge/gt/le/lt/eq + YYYY-MM-DD or a dateTime"),
    ] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=200)] = 50,
    offset: Annotated[int, Query(alias="_offset", ge=0, le=1_000_000)] = 0,
) -> JSONResponse:
    try:
        recommendation_id = _entity(entity)
        recorded = _recorded(date_ or [])
    except _BadParameter as exc:
        return problem(
            400,
            "Invalid search",
            exc.detail,
            errors=[{"field": exc.name, "detail": exc.detail}],
            fhir=True,
        )
    rows, total = uow.audit.search(
        recommendation_id=recommendation_id,
        client_id=agent,
        recorded=recorded,
        limit=count,
        offset=offset,
    )
    next_url = next_page_url(
        request, offset=offset, limit=count, total=total, names=("_offset", "_count")
    )
    body = _bundle(request, [audit.as_audit_event(r) for r in rows], total, next_url)
    return JSONResponse(body, media_type=FHIR_JSON)


@router.get(
    "/{event_id}",
    response_class=FhirJSONResponse,
    summary="Read one audit record (scope ops)",
    responses={404: {"description": "no such AuditEvent (OperationOutcome)"}},
)
def read_audit_event(event_id: str, uow: UnitOfWorkDep, principal: OpsClient) -> JSONResponse:
    # ASCII digits only: str.isdigit() also accepts characters such as "³" that int() refuses.
    record = uow.audit.get(int(event_id)) if _RECORD_ID.fullmatch(event_id) else None
    if record is None:
        return problem(
            404,
            "Not found",
            f"AuditEvent/{event_id} is not known",
            errors=[{"field": "event_id", "detail": f"AuditEvent/{event_id} is not known"}],
            fhir=True,
        )
    return JSONResponse(audit.as_audit_event(record), media_type=FHIR_JSON)
