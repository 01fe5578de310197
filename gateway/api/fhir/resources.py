"""/fhir: the CapabilityStatement, read, search, history and vread of the resources Liaison
stores, read and search of its own definitions, and FHIR-native intake
(POST /fhir/MedicationRequest).

Every response is `application/fhir+json`; every error an OperationOutcome whose
`issue.expression` names the element at fault. A caller sees only resources of its own
organisation's recommendations (a GP practice system: those addressed to its practice);
anything else is answered exactly like a resource that does not exist.
"""

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from fhir_profiles.conformance import definitions
from fhir_profiles.issues import Issue
from fhir_profiles.systems import UKCORE_OPERATION_OUTCOME
from gateway.api.dependencies import (
    FhirClient,
    RecommendationsClient,
    SettingsDep,
    UnitOfWorkDep,
)
from gateway.api.fhir.capability import capability_statement
from gateway.api.fhir.history import history_bundle, served
from gateway.api.fhir.params import (
    CONFORMANCE_TYPES,
    STORED_TYPES,
    SearchError,
    check_names,
    encode_cursor,
    openapi_parameters,
    parse_search,
)
from gateway.api.fhir.published import served_definition
from gateway.api.fhir.searchset import searchset
from gateway.api.links import public_base, public_request_url
from gateway.security.tokens import Principal
from gateway.services import fhir_intake
from gateway.store.models import FhirResource
from gateway.store.repositories.fhir_search import Tenant

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON: Final = "application/fhir+json"
# FHIR ids are at most 64 characters; Liaison's version ids are small positive integers.
_VERSION_ID: Final = re.compile(r"[1-9][0-9]{0,8}")
_FHIR_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {FHIR_JSON: {}}, "description": "A FHIR resource"}
}


def operation_outcome(
    status: int,
    issues: Sequence[Issue],
    *,
    code: str = "invalid",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "resourceType": "OperationOutcome",
        "meta": {"profile": [UKCORE_OPERATION_OUTCOME]},
        "issue": [
            {
                "severity": "error",
                "code": code,
                "diagnostics": f"{issue.path}: {issue.message}",
                "expression": [issue.path],
            }
            for issue in issues
        ],
    }
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _not_found(resource_type: str, resource_id: str) -> JSONResponse:
    return operation_outcome(
        404, [Issue(f"{resource_type}/{resource_id}", "is not known")], code="not-found"
    )


def _unsupported(resource_type: str) -> JSONResponse:
    return operation_outcome(
        404,
        [Issue(resource_type, "is not a resource type this server serves")],
        code="not-supported",
    )


def tenant_of(principal: Principal) -> Tenant:
    practice = getattr(principal, "practice_ods", None)
    if getattr(principal, "kind", None) == "gp-practice" and practice:
        return Tenant(principal.organisation_ods, practice_ods=practice)
    return Tenant(principal.organisation_ods)


def _with_meta(resource: FhirResource) -> dict[str, Any]:
    return {
        **resource.body,
        "meta": {
            **resource.body.get("meta", {}),
            "versionId": str(resource.version_id),
            "lastUpdated": resource.last_updated.astimezone(UTC).isoformat(),
        },
    }


def _base(request: Request) -> str:
    return public_base(request)


@router.get("/metadata", response_class=JSONResponse, responses=_FHIR_RESPONSE)
def metadata(request: Request) -> JSONResponse:
    """The CapabilityStatement: interactions, search parameters and profiles supported."""
    return JSONResponse(capability_statement(_base(request)), media_type=FHIR_JSON)


@router.post(
    "/MedicationRequest",
    status_code=201,
    response_class=JSONResponse,
    responses={201: {"content": {FHIR_JSON: {}}, "description": "Created"}, **_FHIR_RESPONSE},
)
def create_medication_request(
    request: Request,
    uow: UnitOfWorkDep,
    principal: FhirClient,
    _writer: RecommendationsClient,
    resource: Annotated[
        dict[str, Any],
        Body(description="A MedicationRequest conforming to Liaison-MedicationRequest-Submission"),
    ],
) -> JSONResponse:
    """Propose a stop-smoking medicine (intent proposal). The same resource sent again answers
    200 with the first result; a different one with the same identifier is refused (409)."""
    # A refusal (FhirIntakeError) is answered by the API's one refusal handler, as an
    # OperationOutcome naming every element at fault.
    result = fhir_intake.submit(
        uow,
        resource,
        client_id=principal.client_id,
        organisation_ods=principal.organisation_ods,
        now=datetime.now(UTC),
    )
    stored = uow.recommendations.get_resource("MedicationRequest", result.medication_request["id"])
    assert stored is not None
    body = _with_meta(stored)
    location = f"{_base(request)}/fhir/MedicationRequest/{stored.id}/_history/{stored.version_id}"
    return JSONResponse(
        body,
        status_code=201 if result.created else 200,
        media_type=FHIR_JSON,
        headers={"Location": location, "ETag": f'W/"{stored.version_id}"'},
    )


def _bundle(
    request: Request, entries: list[dict[str, Any]], total: int, next_cursor: str | None
) -> dict[str, Any]:
    next_url = None
    if next_cursor is not None:
        following = public_request_url(request).remove_query_params("_cursor")
        next_url = str(following.include_query_params(_cursor=next_cursor))
    return searchset(request, entries, total, next_url)


def _search_conformance(request: Request, resource_type: str) -> JSONResponse:
    params = list(request.query_params.multi_items())
    try:
        check_names(resource_type, (name for name, _ in params))
    except SearchError as error:
        return operation_outcome(400, [Issue(error.parameter, str(error))], code="not-supported")
    wanted_ids = {t for name, v in params if name == "_id" for t in v.split(",")}
    wanted_urls = {t.split("|", 1)[0] for name, v in params if name == "url" for t in v.split(",")}
    found = [
        item
        for item in definitions().by_type.get(resource_type, ())
        if (not wanted_ids or item["id"] in wanted_ids)
        and (not wanted_urls or item["url"] in wanted_urls)
    ]
    base = _base(request)
    settings = request.app.state.settings
    entries = [
        {
            "fullUrl": f"{base}/fhir/{resource_type}/{item['id']}",
            "resource": served_definition(settings, item),
            "search": {"mode": "match"},
        }
        for item in found
    ]
    return JSONResponse(_bundle(request, entries, len(entries), None), media_type=FHIR_JSON)


@router.get(
    "/{resource_type}",
    response_class=JSONResponse,
    responses=_FHIR_RESPONSE,
    openapi_extra={"parameters": openapi_parameters()},
)
def search(
    resource_type: str, request: Request, uow: UnitOfWorkDep, principal: FhirClient
) -> JSONResponse:
    """Search (a searchset Bundle with `next` links). Parameters per type are listed in
    GET /fhir/metadata."""
    if resource_type in CONFORMANCE_TYPES:
        return _search_conformance(request, resource_type)
    if resource_type not in STORED_TYPES:
        return _unsupported(resource_type)
    try:
        query = parse_search(
            resource_type, list(request.query_params.multi_items()), tenant=tenant_of(principal)
        )
    except SearchError as error:
        return operation_outcome(400, [Issue(error.parameter, str(error))], code=error.code)
    # One row more than the page shows: whether it exists decides the next link.
    rows, total = uow.fhir_search.search(replace(query, count=query.count + 1))
    page = rows[: query.count]
    base = _base(request)
    entries = [
        {
            "fullUrl": f"{base}/fhir/{row.resource_type}/{row.id}",
            "resource": _with_meta(row),
            "search": {"mode": "match"},
        }
        for row in page
    ]
    next_cursor = None
    if len(rows) > query.count and page:
        next_cursor = encode_cursor(page[-1].last_updated, page[-1].id)
    return JSONResponse(_bundle(request, entries, total, next_cursor), media_type=FHIR_JSON)


def _visible(
    uow: UnitOfWorkDep, principal: Principal, resource_type: str, resource_id: str
) -> FhirResource | None:
    """The stored resource if it exists and the caller may see it; else None (answered as a
    resource that does not exist, so nothing leaks about other organisations')."""
    resource = uow.recommendations.get_resource(resource_type, resource_id)
    owner = uow.recommendations.get(resource.recommendation_id) if resource else None
    if resource is None or owner is None or not tenant_of(principal).owns(owner):
        return None
    return resource


def _history_unsupported(resource_type: str) -> JSONResponse:
    return operation_outcome(
        404,
        [Issue(resource_type, "has no version history here: it is a published definition")],
        code="not-supported",
    )


@router.get(
    "/{resource_type}/{resource_id}/_history",
    response_class=JSONResponse,
    responses=_FHIR_RESPONSE,
)
def history(
    resource_type: str,
    resource_id: str,
    request: Request,
    uow: UnitOfWorkDep,
    principal: FhirClient,
) -> JSONResponse:
    """Every version of one resource, newest first (a `history` Bundle)."""
    if resource_type in CONFORMANCE_TYPES:
        return _history_unsupported(resource_type)
    if resource_type not in STORED_TYPES:
        return _unsupported(resource_type)
    given = [name for name, _ in request.query_params.multi_items()]
    if given:
        # A resource has a handful of versions: all are returned, newest first.
        return operation_outcome(
            400,
            [Issue(given[0], "is not a history parameter this server supports")],
            code="not-supported",
        )
    resource = _visible(uow, principal, resource_type, resource_id)
    if resource is None:
        return _not_found(resource_type, resource_id)
    bundle = history_bundle(
        _base(request), str(request.url), resource, uow.recommendations.resource_versions(resource)
    )
    return JSONResponse(bundle, media_type=FHIR_JSON)


@router.get(
    "/{resource_type}/{resource_id}/_history/{version_id}",
    response_class=JSONResponse,
    responses=_FHIR_RESPONSE,
)
def vread(
    resource_type: str,
    resource_id: str,
    version_id: str,
    uow: UnitOfWorkDep,
    principal: FhirClient,
) -> JSONResponse:
    """One version of one resource, as it was."""
    if resource_type in CONFORMANCE_TYPES:
        return _history_unsupported(resource_type)
    if resource_type not in STORED_TYPES:
        return _unsupported(resource_type)
    resource = _visible(uow, principal, resource_type, resource_id)
    if resource is None:
        return _not_found(resource_type, resource_id)
    found = None
    if _VERSION_ID.fullmatch(version_id):
        found = uow.recommendations.resource_version(resource, int(version_id))
    if found is None:
        return _not_found(resource_type, f"{resource_id}/_history/{version_id}")
    return JSONResponse(
        served(resource, found),
        media_type=FHIR_JSON,
        headers={"ETag": f'W/"{found.version_id}"'},
    )


@router.get("/{resource_type}/{resource_id}", response_class=JSONResponse, responses=_FHIR_RESPONSE)
def read(
    resource_type: str,
    resource_id: str,
    uow: UnitOfWorkDep,
    principal: FhirClient,
    settings: SettingsDep,
) -> JSONResponse:
    """Read one resource: a stored one the caller may see, or one of Liaison's definitions."""
    # A profile comes with its snapshot when the deployment publishes its FHIR package
    # (gateway.api.fhir.published); the docstring is the operation's text in openapi.yaml.
    if resource_type in CONFORMANCE_TYPES:
        found = definitions().read(resource_type, resource_id)
        if found is None:
            return _not_found(resource_type, resource_id)
        return JSONResponse(served_definition(settings, found), media_type=FHIR_JSON)
    if resource_type not in STORED_TYPES:
        return _unsupported(resource_type)
    resource = _visible(uow, principal, resource_type, resource_id)
    if resource is None:
        return _not_found(resource_type, resource_id)
    return JSONResponse(
        _with_meta(resource), media_type=FHIR_JSON, headers={"ETag": f'W/"{resource.version_id}"'}
    )
