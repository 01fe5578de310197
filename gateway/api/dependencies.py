"""Annotated dependency aliases shared by the routers."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from gateway.api.auth import require_scope
from gateway.security.tokens import Principal
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _unit_of_work(request: Request) -> Iterator[UnitOfWork]:
    with UnitOfWork(request.app.state.session_factory) as uow:
        yield uow


SettingsDep = Annotated[Settings, Depends(_settings)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(_unit_of_work)]
RecommendationsClient = Annotated[Principal, require_scope("recommendations")]
FhirClient = Annotated[Principal, require_scope("fhir")]
OpsClient = Annotated[Principal, require_scope("ops")]
GpPracticeClient = Annotated[Principal, require_scope("gp-practice")]
