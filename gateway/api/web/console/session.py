"""Console sessions: the cookie, the server-side session it names, and the form check.

The cookie holds a random id (HttpOnly, SameSite=Strict, Secure behind HTTPS); the database
holds its SHA-256, the client and its scopes. Every request checks the session and the client
registry again, so revoking the client or its `ops` scope ends the session at once.
"""

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from gateway.api.web.sessions import digest
from gateway.security.context import Actor, note_actor
from gateway.security.tokens import Principal
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork

COOKIE = "liaison_console"
LOGIN_COOKIE = "liaison_console_login"


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


def unit_of_work(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.session_factory)


def current_engineer(request: Request) -> Engineer:
    raw = request.cookies.get(COOKIE)
    if not raw:
        raise NotSignedIn()
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    with unit_of_work(request) as uow:
        row = uow.console_sessions.get(digest(raw))
        if row is None or row.expires_at <= now:
            raise NotSignedIn("expired")
        scopes = frozenset(row.scopes.split())
        client = uow.clients.get(row.client_id)
        if client is not None:
            scopes &= frozenset(client.scopes.split()) if client.status == "active" else frozenset()
        elif settings.environment == "production":
            scopes = frozenset()  # production honours registered clients only
        if "ops" not in scopes:
            uow.console_sessions.remove(row.id_hash)
            uow.commit()
            raise NotSignedIn("revoked")
        principal = Principal(
            client_id=row.client_id,
            organisation_ods=row.organisation_ods,
            scopes=scopes,
            kind=row.kind,
        )
        csrf_token = row.csrf_token
    note_actor(
        Actor(
            client_id=principal.client_id,
            organisation_ods=principal.organisation_ods,
            kind=principal.kind,
        )
    )
    return Engineer(principal, csrf_token)


EngineerDep = Annotated[Engineer, Depends(current_engineer)]


def check_form(engineer: Engineer, csrf_token: str) -> None:
    if not hmac.compare_digest(engineer.csrf_token.encode(), csrf_token.encode()):
        raise FormExpired()


def safe_next(target: str | None) -> str:
    """Only back into the console: never an open redirect."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return "/console/"
