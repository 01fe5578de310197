"""/ops/practices: the practice directory and each practice's health, for integration
engineers (scope `ops`). Credentials appear only as references (environment variable names)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from gateway.api.dependencies import OpsClient, UnitOfWorkDep
from gateway.api.problems import problem
from gateway.domain.practice_access import breaker_of
from gateway.practice_directory import (
    ODS_PATTERN,
    PracticeSettings,
    settings_of,
    source_of,
    write_practice,
)
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
    return PracticeView(
        **settings_of(practice).model_dump(),
        ods_code=practice.ods_code,
        source=source_of(practice),
        health=PracticeHealth(
            breaker=BreakerView(
                state=breaker.state,
                consecutive_failures=breaker.failures,
                opened_at=breaker.opened_at,
                last_error=practice.breaker_last_error if breaker.failures else None,
            ),
            deliveries_in_flight=uow.gp_links.in_flight_count(
                practice.ods_code, now=datetime.now(UTC)
            ),
            last_polled_at=practice.last_polled_at,
        ),
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
        return problem(404, "Not found", f"no practice {ods_code} in the directory")
    return Response(
        _view(uow, practice).model_dump_json(), media_type="application/json", status_code=200
    )


@router.put(
    "/practices/{ods_code}",
    response_model=PracticeView,
    responses={201: {"description": "Created", "model": PracticeView}},
)
def put_practice(
    ods_code: OdsCode, entry: PracticeSettings, uow: UnitOfWorkDep, principal: OpsClient
) -> Response:
    """Create or replace a practice's directory entry. Its runtime state (poll cursor,
    circuit breaker) is kept; start-up seeding from YAML will no longer overwrite it."""
    practice, created = write_practice(uow, ods_code, entry, source="api")
    uow.commit()
    return Response(
        _view(uow, practice).model_dump_json(),
        media_type="application/json",
        status_code=201 if created else 200,
    )
