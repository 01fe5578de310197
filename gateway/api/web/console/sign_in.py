"""Signing in and out: an access token with the `ops` scope is exchanged for a session.

The sign-in form carries a token of its own (double-submit cookie); sign-out needs the
session's CSRF token and deletes the session row.
"""

import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from gateway.api.auth import RateLimited, current_principal
from gateway.api.dependencies import SettingsDep
from gateway.api.error_kinds import status_for
from gateway.api.web.console.pages import render_page, router
from gateway.api.web.console.session import (
    COOKIE,
    LOGIN_COOKIE,
    EngineerDep,
    check_form,
    safe_next,
    unit_of_work,
)
from gateway.api.web.sessions import digest, secure_cookies
from gateway.security.tokens import Unauthorized
from gateway.settings import Settings
from gateway.store.session_models import ConsoleSession

SIGN_IN_REASONS = {
    "expired": "Your session has ended. Sign in again.",
    "revoked": "Your client no longer has the ops scope, or was revoked.",
}


def _sign_inpage(
    request: Request, *, next_url: str, message: str | None, status_code: int = 200
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    form_token = secrets.token_urlsafe(32)
    response = render_page(
        request,
        "login.html",
        {"next": safe_next(next_url), "message": message, "form_token": form_token},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        form_token,
        max_age=1800,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(settings),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def loginpage(request: Request, next: str | None = None, why: str | None = None) -> HTMLResponse:
    return _sign_inpage(
        request, next_url=next or "/console/", message=SIGN_IN_REASONS.get(why or "")
    )


@router.post("/login", response_class=HTMLResponse)
def sign_in(
    request: Request,
    settings: SettingsDep,
    token: Annotated[str, Form(max_length=8192)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console/",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), form_token.encode()):
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
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with unit_of_work(request) as uow:
        uow.console_sessions.remove_expired(now=now)
        uow.console_sessions.add(
            ConsoleSession(
                id_hash=digest(session_id),
                client_id=principal.client_id,
                organisation_ods=principal.organisation_ods,
                kind=principal.kind,
                scopes=" ".join(sorted(principal.scopes)),
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(seconds=settings.sessions.console_max_age_seconds),
            )
        )
        uow.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=settings.sessions.console_max_age_seconds,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(settings),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
def sign_out(
    request: Request,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_form(engineer, csrf_token)
    with unit_of_work(request) as uow:
        uow.console_sessions.remove(digest(request.cookies.get(COOKIE, "")))
        uow.commit()
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response
