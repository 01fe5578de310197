"""`GET /fhir/AuditEvent`: the audit trail (gateway.api.middleware.audit_trail) read as FHIR
AuditEvent, searched by the `ops` scope by recommendation (`entity`), client (`agent`) and
date.
"""

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from fhir_profiles.systems import UKCORE_BUNDLE
from gateway.api.dependencies import OpsClient, UnitOfWorkDep
from gateway.api.links import public_base, public_request_url
from gateway.api.problems import problem
from gateway.security import audit

FHIR_JSON = "application/fhir+json"


class FhirJSONResponse(JSONResponse):
    media_type = FHIR_JSON


router = APIRouter(prefix="/fhir/AuditEvent", tags=["audit"])


_DATE = re.compile(
    r"^(eq|ne|gt|ge|lt|le|sa|eb)?(\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?)$",
    re.ASCII,
)


_RECORD_ID = re.compile(r"[0-9]{1,17}")


class _BadParameter(Exception):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(detail)
        self.name = name
        self.detail = detail


def _date_bounds(values: list[str]) -> tuple[datetime | None, bool, datetime | None, bool]:
    """FHIR date search (eq/gt/ge/lt/le) as (since, inclusive, until, inclusive)."""
    since: datetime | None = None
    since_inclusive = True
    until: datetime | None = None
    until_inclusive = False
    for value in values:
        match = _DATE.match(value)
        if match is None:
            raise _BadParameter(
                "date",
                f"date: {value!r} is not a FHIR date search (e.g. ge2026-11-01 or "
                "lt2026-11-26T12:00:00Z)",
            )
        prefix, text = match.group(1) or "eq", match.group(2)
        if prefix not in ("eq", "gt", "ge", "lt", "le"):
            raise _BadParameter("date", f"date: prefix {prefix!r} is not supported here")
        try:
            if "T" in text:
                start = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
                end = start
            else:
                start = datetime.combine(date.fromisoformat(text), time(), UTC)
                latest = datetime.max.replace(tzinfo=UTC)
                # 9999-12-31 has no next day: its range ends at the last instant there is.
                end = latest if latest - start < timedelta(days=1) else start + timedelta(days=1)
        except (ValueError, OverflowError) as exc:
            raise _BadParameter("date", f"date: {value!r} is not a valid date") from exc
        if prefix == "eq":
            since, since_inclusive = start, True
            until, until_inclusive = (end, False) if end != start else (end, True)
        elif prefix == "ge":
            since, since_inclusive = start, True
        elif prefix == "gt":
            since, since_inclusive = end, end != start
        elif prefix == "lt":
            until, until_inclusive = start, False
        else:  # le
            until, until_inclusive = end, end == start
    return since, since_inclusive, until, until_inclusive


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
    links = [{"relation": "self", "url": str(public_request_url(request))}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [UKCORE_BUNDLE]},
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/fhir/AuditEvent/{event['id']}",
                "resource": event,
                "search": {"mode": "match"},
            }
            for event in events
        ],
    }


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
        since, since_inclusive, until, until_inclusive = _date_bounds(date_ or [])
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
        since=since,
        since_inclusive=since_inclusive,
        until=until,
        until_inclusive=until_inclusive,
        limit=count,
        offset=offset,
    )
    next_url = None
    if offset + count < total:
        next_url = str(
            public_request_url(request).include_query_params(_offset=offset + count, _count=count)
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
