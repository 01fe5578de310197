"""/ops/practices: the practice directory and each practice's health, for integration
engineers (scope `ops`). Credentials appear only as references (environment variable names).

The `ops` scope reads every entry and changes its operational fields (rate limit, in-flight
limit, chase-up days, timeout); changing where a practice's requests go or with which
credentials (adapter, `base_url`, `auth`, `mailbox`, `callback_secret_env`, ...) also needs
the `practice-admin` scope, which no client holds by default. Otherwise an ops client could
point a practice at a host of its choosing and receive patients' data and credentials."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from gateway.api.dependencies import OpsClient, SettingsDep, UnitOfWorkDep
from gateway.api.problems import problem
from gateway.domain.errors import NotFound
from gateway.practice_directory import (
    ODS_PATTERN,
    OPERATIONAL_FIELDS,
    STORED,
    PracticeSettings,
    connection_changes,
    endpoint_problems,
    settings_of,
    source_of,
    write_practice,
)
from gateway.security.clients import PRACTICE_ADMIN_SCOPE
from gateway.services.practice_access import breaker_of
from gateway.store.models import Practice
from gateway.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/ops", tags=["ops"])

OdsCode = Annotated[str, Path(pattern=ODS_PATTERN, max_length=10, examples=["A81001"])]


class BreakerView(BaseModel):
    state: str  # closed | open | half-open
    consecutive_failures: int
    opened_at: datetime | None
    last_error: str | None


class PracticeHealth(BaseModel):
    breaker: BreakerView
    deliveries_in_flight: int
    last_polled_at: datetime | None


class PracticeView(PracticeSettings):
    ods_code: str
    source: str  # yaml | api | cli | dev: where the entry was last written from
    health: PracticeHealth


class PracticeList(BaseModel):
    practices: list[PracticeView]


def _view(uow: UnitOfWork, practice: Practice) -> PracticeView:
    breaker = breaker_of(practice)
    health = PracticeHealth(
        breaker=BreakerView(
            state=breaker.state,
            consecutive_failures=breaker.failures,
            opened_at=breaker.opened_at,
            last_error=practice.breaker_last_error if breaker.failures else None,
        ),
        deliveries_in_flight=uow.gp_links.in_flight_count(practice.ods_code, now=datetime.now(UTC)),
        last_polled_at=practice.last_polled_at,
    )
    return PracticeView.model_validate(
        {
            **settings_of(practice).model_dump(),
            "ods_code": practice.ods_code,
            "source": source_of(practice),
            "health": health,
        },
        context=STORED,
    )


@router.get("/practices", response_model=PracticeList)
def list_practices(uow: UnitOfWorkDep, principal: OpsClient) -> PracticeList:
    return PracticeList(practices=[_view(uow, p) for p in uow.practices.list()])


@router.get(
    "/practices/{ods_code}",
    response_model=PracticeView,
    responses={404: {"description": "No such practice in the directory"}},
)
def get_practice(ods_code: OdsCode, uow: UnitOfWorkDep, principal: OpsClient) -> Response:
    practice = uow.practices.get(ods_code)
    if practice is None:
        raise NotFound(f"no practice {ods_code} in the directory")
    return Response(
        _view(uow, practice).model_dump_json(), media_type="application/json", status_code=200
    )


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
        _view(uow, practice).model_dump_json(),
        media_type="application/json",
        status_code=201 if created else 200,
    )
