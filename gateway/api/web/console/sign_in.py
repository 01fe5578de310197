"""Signing in and out: an access token with the `ops` scope is exchanged for a session.

The sign-in form carries a token of its own (double-submit cookie); sign-out needs the
session's CSRF token and deletes the session row (gateway.api.web.sessions).
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from gateway.api.auth import RateLimited, current_principal
from gateway.api.error_kinds import status_for
from gateway.api.web import sessions
from gateway.api.web.console.pages import render_page, router
from gateway.api.web.console.session import (
    CONSOLE_SESSIONS,
    EngineerDep,
    check_form,
    safe_next,
    unit_of_work,
)
from gateway.security.tokens import Principal, Unauthorized
from gateway.store.session_models import ConsoleSession

SIGN_IN_REASONS = {
    "expired": "Your session has ended. Sign in again.",
    "revoked": "Your client no longer has the ops scope, or was revoked.",
}


def _sign_inpage(
    request: Request, *, next_url: str, message: str | None, status_code: int = 200
) -> HTMLResponse:
    form_token = sessions.mint_login_token()
    response = render_page(
        request,
        "login.html",
        {"next": safe_next(next_url), "message": message, "form_token": form_token},
        status_code=status_code,
    )
    sessions.set_login_cookie(request, response, CONSOLE_SESSIONS, form_token)
    return response


@router.get("/login", response_class=HTMLResponse)
def loginpage(request: Request, next: str | None = None, why: str | None = None) -> HTMLResponse:
    return _sign_inpage(
        request, next_url=next or "/console/", message=SIGN_IN_REASONS.get(why or "")
    )


@router.post("/login", response_class=HTMLResponse)
def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=8192)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console/",
) -> Response:
    if not sessions.login_form_ok(request, CONSOLE_SESSIONS, form_token):
        return _sign_inpage(
            request,
            next_url=next,
            message="The sign-in form had expired. Paste your token again.",
            status_code=403,
        )
    if not token.strip():
        return _sign_inpage(
            request, next_url=next, message="token: paste an access token.", status_code=422
        )
    try:
        principal = current_principal(
            request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip())
        )
    except Unauthorized as exc:
        return _sign_inpage(request, next_url=next, message=exc.detail, status_code=status_for(exc))
    except RateLimited as exc:
        return _sign_inpage(request, next_url=next, message=exc.detail, status_code=429)
    if "ops" not in principal.scopes:
        return _sign_inpage(
            request,
            next_url=next,
            message=("This token lacks the ops scope: the console is for integration engineers."),
            status_code=403,
        )
    with unit_of_work(request) as uow:
        return sessions.start_session(
            request,
            CONSOLE_SESSIONS,
            uow,
            lambda new: _session_row(new, principal),
            now=datetime.now(UTC),
            redirect_to=safe_next(next),
        )


def _session_row(new: sessions.NewSession, principal: Principal) -> ConsoleSession:
    return ConsoleSession(
        id_hash=new.id_hash,
        client_id=principal.client_id,
        organisation_ods=principal.organisation_ods,
        kind=principal.kind,
        scopes=" ".join(sorted(principal.scopes)),
        csrf_token=new.csrf_token,
        created_at=new.created_at,
        expires_at=new.expires_at,
    )


@router.post("/logout")
def sign_out(
    request: Request,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_form(request, engineer, csrf_token)
    return sessions.sign_out(request, CONSOLE_SESSIONS, redirect_to="/console/login")
