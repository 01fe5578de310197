"""Console sessions: who holds one, and the form check (the scheme is gateway.api.web.sessions).

The session row keeps the client and its scopes from the token it was opened with. Every
request checks the client registry again, so revoking the client or its `ops` scope ends the
session at once.
"""

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request

from gateway.api.web.sessions import (
    LiveSession,
    SessionConfig,
    form_ok,
    read_session,
    unit_of_work,
)
from gateway.security.context import Actor, note_actor
from gateway.security.tokens import Principal
from gateway.settings import Settings
from gateway.store.session_models import ConsoleSession
from gateway.store.unit_of_work import UnitOfWork

__all__ = [
    "CONSOLE_SESSIONS",
    "Engineer",
    "EngineerDep",
    "FormExpired",
    "NotSignedIn",
    "check_form",
    "current_engineer",
    "safe_next",
    "unit_of_work",
]


def _max_age(settings: Settings) -> int:
    return settings.sessions.console_max_age_seconds


CONSOLE_SESSIONS: Final[SessionConfig[ConsoleSession]] = SessionConfig(
    cookie="liaison_console",
    login_cookie="liaison_console_login",
    path="/console",
    max_age=_max_age,
    store=lambda uow: uow.console_sessions,
    check_origin=True,
)


class NotSignedIn(Exception):
    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "not signed in")
        self.reason = reason


class FormExpired(Exception):
    """A console form without this session's CSRF token."""


@dataclass(frozen=True)
class Engineer:
    principal: Principal
    csrf_token: str


def _principal(uow: UnitOfWork, row: ConsoleSession, settings: Settings) -> Principal | None:
    """The session's holder with the scopes the client registry still grants; None without ops."""
    scopes = frozenset(row.scopes.split())
    client = uow.clients.get(row.client_id)
    if client is not None:
        scopes &= frozenset(client.scopes.split()) if client.status == "active" else frozenset()
    elif settings.environment == "production":
        scopes = frozenset()  # production honours registered clients only
    if "ops" not in scopes:
        return None
    return Principal(
        client_id=row.client_id,
        organisation_ods=row.organisation_ods,
        scopes=scopes,
        kind=row.kind,
    )


def current_engineer(request: Request) -> Engineer:
    settings: Settings = request.app.state.settings
    found = read_session(request, CONSOLE_SESSIONS, lambda uow, row: _principal(uow, row, settings))
    if not isinstance(found, LiveSession):
        raise NotSignedIn(found.reason)
    principal = found.holder
    note_actor(
        Actor(
            client_id=principal.client_id,
            organisation_ods=principal.organisation_ods,
            kind=principal.kind,
        )
    )
    return Engineer(principal, found.csrf_token)


EngineerDep = Annotated[Engineer, Depends(current_engineer)]


def check_form(request: Request, engineer: Engineer, csrf_token: str) -> None:
    """A console form must carry the session's CSRF token and, when the browser names its
    origin, come from this site: a cross-site post is refused even with the token."""
    if not form_ok(request, CONSOLE_SESSIONS, engineer.csrf_token, csrf_token):
        raise FormExpired()


def safe_next(target: str | None) -> str:
    """Only back into the console: never an open redirect."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return "/console/"
