"""/ops/practices: the practice directory and each practice's health, for integration
engineers (scope `ops`). Credentials appear only as references (environment variable names).
The reading is gateway.services.practice_overview, shared with the console's practices page.

The `ops` scope reads every entry and changes its operational fields (rate limit, in-flight
limit, chase-up days, timeout); changing where a practice's requests go or with which
credentials (adapter, `base_url`, `auth`, `mailbox`, `callback_secret_env`, ...) also needs
the `practice-admin` scope, which no client holds by default. Otherwise an ops client could
point a practice at a host of its choosing and receive patients' data and credentials."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response

from gateway.api.dependencies import OpsClient, SettingsDep, UnitOfWorkDep
from gateway.api.problems import problem
from gateway.practice_directory import (
    ODS_PATTERN,
    OPERATIONAL_FIELDS,
    PracticeSettings,
    connection_changes,
    endpoint_problems,
    settings_of,
    write_practice,
)
from gateway.security.clients import PRACTICE_ADMIN_SCOPE
from gateway.services import practice_overview
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


def _needs_practice_admin(changed: list[str]) -> Response:
    operational = ", ".join(sorted(OPERATIONAL_FIELDS))
    detail = (
        f"changing {', '.join(changed)} needs the {PRACTICE_ADMIN_SCOPE!r} scope: a practice's "
        "adapter, endpoint and credentials are changed from a shell (`liaison practices "
        f"set`, the directory YAML) or by a practice-admin client; the ops scope may change "
        f"only {operational}"
    )
    return problem(
        403,
        "Forbidden",
        detail,
        errors=[
            {"field": field, "detail": f"{field}: needs the {PRACTICE_ADMIN_SCOPE!r} scope"}
            for field in changed
        ],
    )


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
    existing = uow.practices.get(ods_code)
    changed = connection_changes(settings_of(existing) if existing else None, entry)
    if changed and PRACTICE_ADMIN_SCOPE not in principal.scopes:
        return _needs_practice_admin(changed)
    refused = endpoint_problems(entry, settings)
    if refused:
        return problem(
            422,
            "Invalid request",
            "; ".join(f"{field}: {why}" for field, why in refused),
            errors=[{"field": field, "detail": f"{field}: {why}"} for field, why in refused],
        )
    practice, created = write_practice(uow, ods_code, entry, source="api")
    uow.commit()
    return Response(
        practice_overview.view_of(uow, practice, now=datetime.now(UTC)).model_dump_json(),
        media_type="application/json",
        status_code=201 if created else 200,
    )
