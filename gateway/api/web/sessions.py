"""The web pages' sessions and CSRF checks: one scheme for the console and the practice inbox.

A session is held server-side. The cookie holds only a random id (`secrets.token_urlsafe`,
256 bits); the session row is keyed by its SHA-256, so a database reader cannot sign in, and
signing out (or revoking the client, or disabling the account) ends the session at once.
A fresh id and CSRF token are minted at every sign-in and the session the browser came with
is deleted, so nothing chosen before signing in carries over (session fixation, OWASP Session
Management Cheat Sheet, "Renew the Session ID After Any Privilege Level Change").

Every form carries its session's CSRF token, compared in constant time (`hmac.compare_digest`);
the sign-in form, before there is a session, carries a token of its own matched to a cookie
(double-submit cookie, OWASP CSRF Prevention Cheat Sheet). Cookies are HttpOnly,
SameSite=Strict, scoped to the page's path, and Secure when Liaison is served over HTTPS
(production insists on an https public base URL).

Each page passes a `SessionConfig`: its cookie names, path, lifetime, and which session table
(repository) of the unit of work holds its rows.
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Literal, Protocol, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from gateway.settings import Settings
from gateway.store.session_models import WebSession
from gateway.store.unit_of_work import UnitOfWork

# How long a sign-in form stays usable.
LOGIN_FORM_MAX_AGE = 1800


RowT = TypeVar("RowT", bound=WebSession)
HolderT = TypeVar("HolderT")


class SessionStore(Protocol[RowT]):
    """A session repository (gateway.store.repositories.console_sessions, inbox_sessions)."""

    def add(self, row: RowT, /) -> None: ...
    def get(self, id_hash: str) -> RowT | None: ...
    def remove(self, id_hash: str) -> None: ...
    def remove_expired(self, *, now: datetime) -> int: ...


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secure_cookies(settings: Settings) -> bool:
    return settings.api.public_base_url.startswith("https://")


@dataclass(frozen=True)
class SessionConfig(Generic[RowT]):
    """One web page's sessions: its cookies, the path they are scoped to, and its table."""

    cookie: str
    login_cookie: str
    path: str
    max_age: Callable[[Settings], int]
    store: Callable[[UnitOfWork], SessionStore[RowT]]
    # Whether cookies are Secure; over HTTPS always, and wherever a setting asks for it.
    secure: Callable[[Settings], bool] = secure_cookies
    # Refuse a form whose Origin header names another site, even with the right token.
    check_origin: bool = False


@dataclass(frozen=True)
class NewSession:
    """What the shared scheme mints for a session row; the page adds who holds it."""

    id_hash: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class LiveSession(Generic[HolderT]):
    id_hash: str
    csrf_token: str
    holder: HolderT


@dataclass(frozen=True)
class NoSession:
    """Why there is no live session: no cookie (None), or the one named has ended."""

    reason: Literal["expired", "revoked"] | None = None


def unit_of_work(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.session_factory)


def read_session(
    request: Request,
    config: SessionConfig[RowT],
    holder: Callable[[UnitOfWork, RowT], HolderT | None],
) -> LiveSession[HolderT] | NoSession:
    """The live session the cookie names. `holder` says who holds it, checked afresh on every
    request; None (client revoked, account disabled) deletes the session."""
    raw = request.cookies.get(config.cookie)
    if not raw:
        return NoSession()
    with unit_of_work(request) as uow:
        store = config.store(uow)
        row = store.get(digest(raw))
        if row is None or row.expires_at <= datetime.now(UTC):
            return NoSession("expired")
        found = holder(uow, row)
        if found is None:
            store.remove(row.id_hash)
            uow.commit()
            return NoSession("revoked")
        return LiveSession(row.id_hash, row.csrf_token, found)


def start_session(
    request: Request,
    config: SessionConfig[RowT],
    uow: UnitOfWork,
    row: Callable[[NewSession], RowT],
    *,
    now: datetime,
    redirect_to: str,
) -> Response:
    """Sign in: a fresh session id and CSRF token, the browser's earlier session deleted, the
    unit of work committed, and a redirect that sets the cookie and retires the sign-in form's."""
    settings: Settings = request.app.state.settings
    max_age = config.max_age(settings)
    session_id = secrets.token_urlsafe(32)
    store = config.store(uow)
    store.remove_expired(now=now)
    earlier = request.cookies.get(config.cookie)
    if earlier:
        store.remove(digest(earlier))
    store.add(
        row(
            NewSession(
                id_hash=digest(session_id),
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(seconds=max_age),
            )
        )
    )
    uow.commit()
    response = RedirectResponse(redirect_to, status_code=303)
    _set_cookie(response, settings, config, config.cookie, session_id, max_age)
    response.delete_cookie(config.login_cookie, path=config.path)
    return response


def sign_out(request: Request, config: SessionConfig[RowT], *, redirect_to: str) -> Response:
    """Delete the session the cookie names, server-side, so a copy of the cookie is dead too."""
    raw = request.cookies.get(config.cookie)
    if raw:
        with unit_of_work(request) as uow:
            config.store(uow).remove(digest(raw))
            uow.commit()
    response = RedirectResponse(redirect_to, status_code=303)
    forget_cookie(response, config)
    return response


def forget_cookie(response: Response, config: SessionConfig[RowT]) -> None:
    response.delete_cookie(config.cookie, path=config.path)


def csrf_matches(expected: str, submitted: str) -> bool:
    """A submitted token against the one issued, in constant time; an empty one never matches."""
    return bool(expected and submitted) and hmac.compare_digest(
        expected.encode(), submitted.encode()
    )


def same_origin(request: Request) -> bool:
    # A form posted from another site is refused even if it somehow carried the token.
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def form_ok(request: Request, config: SessionConfig[RowT], expected: str, submitted: str) -> bool:
    """A form posted within a session: its CSRF token, and its origin where the page checks it."""
    return csrf_matches(expected, submitted) and (not config.check_origin or same_origin(request))


def mint_login_token() -> str:
    return secrets.token_urlsafe(32)


def set_login_cookie(
    request: Request, response: Response, config: SessionConfig[RowT], token: str
) -> None:
    """The sign-in form's own token, also sent as a cookie that a page elsewhere cannot set."""
    settings: Settings = request.app.state.settings
    _set_cookie(response, settings, config, config.login_cookie, token, LOGIN_FORM_MAX_AGE)


def login_form_ok(request: Request, config: SessionConfig[RowT], submitted: str) -> bool:
    """The sign-in form's token matches its cookie (login CSRF)."""
    return form_ok(request, config, request.cookies.get(config.login_cookie, ""), submitted)


def _set_cookie(
    response: Response,
    settings: Settings,
    config: SessionConfig[RowT],
    name: str,
    value: str,
    max_age: int,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=config.path,
        httponly=True,
        samesite="strict",
        secure=config.secure(settings),
    )
