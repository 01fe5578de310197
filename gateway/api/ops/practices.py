"""/ops/practices: the practice directory and each practice's health, for integration
engineers (scope `ops`). Credentials appear only as references (environment variable names).
The reading is gateway.services.practice_overview, shared with the console's practices page;
who may write what is gateway.services.practice_entries.

The `ops` scope reads every entry and changes its operational fields (rate limit, in-flight
limit, chase-up days, timeout); changing where a practice's requests go or with which
credentials (adapter, `base_url`, `auth`, `mailbox`, `callback_secret_env`, ...) also needs
the `practice-admin` scope, which no client holds by default. Otherwise an ops client could
point a practice at a host of its choosing and receive patients' data and credentials."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response

from gateway.api.dependencies import OpsClient, SettingsDep, UnitOfWorkDep
from gateway.practice_directory import ODS_PATTERN, PracticeSettings
from gateway.services import practice_entries, practice_overview
from gateway.services.practice_overview import PracticeList, PracticeView

router = APIRouter(prefix="/ops", tags=["ops"])

OdsCode = Annotated[str, Path(pattern=ODS_PATTERN, max_length=10, examples=["A81001"])]


@router.get("/practices", response_model=PracticeList)
def list_practices(uow: UnitOfWorkDep, principal: OpsClient) -> PracticeList:
    return practice_overview.list_practices(uow, now=datetime.now(UTC))


@router.get(
    "/practices/{ods_code}",
    response_model=PracticeView,
    responses={404: {"description": "No such practice in the directory"}},
)
def get_practice(ods_code: OdsCode, uow: UnitOfWorkDep, principal: OpsClient) -> Response:
    view = practice_overview.practice_view(uow, ods_code, now=datetime.now(UTC))
    return Response(view.model_dump_json(), media_type="application/json", status_code=200)


@router.put(
    "/practices/{ods_code}",
    response_model=PracticeView,
    responses={
        201: {"description": "Created", "model": PracticeView},
        403: {"description": "A connection field changed without the practice-admin scope"},
        422: {"description": "Invalid entry, or an endpoint Liaison will not call"},
    },
)
def put_practice(
    ods_code: OdsCode,
    entry: PracticeSettings,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    principal: OpsClient,
) -> Response:
    """Create or replace a practice's directory entry. Its runtime state (poll cursor,
    circuit breaker) is kept; start-up seeding from YAML will no longer overwrite it.
    With the `ops` scope alone, only the operational fields may differ from what is stored;
    a new practice, or a new adapter, endpoint or credential, needs `practice-admin` too."""
    view, created = practice_entries.put_entry(
        uow, ods_code, entry, settings=settings, scopes=principal.scopes, now=datetime.now(UTC)
    )
    return Response(
        view.model_dump_json(),
        media_type="application/json",
        status_code=201 if created else 200,
    )
