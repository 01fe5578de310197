"""The practice inbox: server-rendered pages for practices with no GP system integration.

Staff sign in for their practice (username and password, argon2id-hashed, their own
accounts, separate from API clients), see the requests waiting for them, and act on them.
The session is held server-side (gateway.store.session_models): the cookie, scoped to /inbox
(SameSite=Strict, HttpOnly, Secure behind HTTPS), holds only a random id, so signing out ends
it at once. Every form carries the session's CSRF token (the sign-in form a token of its
own, matched to a cookie), checked in constant time. No JavaScript is needed.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.api.auth import RateLimited
from gateway.api.error_kinds import status_for
from gateway.api.web.sessions import digest, secure_cookies
from gateway.security.context import Actor, note_actor
from gateway.services import practice_inbox
from gateway.services.inbox_accounts import sign_in
from gateway.settings import Settings
from gateway.store.session_models import InboxSession
from gateway.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/inbox", include_in_schema=False)
# Autoescaped: everything shown comes from requests and practitioners.
templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

LOGIN = "/inbox/login"
HOME = "/inbox"
COOKIE = "liaison_inbox"
LOGIN_COOKIE = "liaison_inbox_login"
STATUS_WORDS = {
    "delivered": "New",
    "accepted": "Accepted",
    "appointment-needed": "Waiting to see the patient",
    "prescription-issued": "Prescription issued",
    "ready-to-collect": "Ready to collect",
    "rejected": "Rejected",
    "cancelled": "Withdrawn",
}


def _uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.session_factory)


@dataclass(frozen=True)
class StaffSession:
    id_hash: str
    user_id: int
    ods: str
    username: str
    csrf_token: str


def _secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return secure_cookies(settings) or settings.sessions.inbox_secure_cookies


def _session(request: Request) -> StaffSession | None:
    """The live server-side session the cookie names, whose account is still active."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    with _uow(request) as uow:
        row = uow.inbox_sessions.get(digest(raw))
        if row is None or row.expires_at <= datetime.now(UTC):
            return None
        user = uow.inbox.user_by_id(row.user_id)
        if user is None or not user.active or user.practice_ods != row.practice_ods:
            uow.inbox_sessions.remove(row.id_hash)
            uow.commit()
            return None
        found = StaffSession(row.id_hash, user.id, row.practice_ods, user.username, row.csrf_token)
    note_actor(
        Actor(
            client_id=f"inbox:{found.ods}",
            organisation_ods=found.ods,
            kind="inbox",
            user=found.username,
        )
    )
    return found


def _same_origin(request: Request) -> bool:
    # A form posted from another site is refused even if it somehow carried the token.
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def _csrf_ok(request: Request, staff: StaffSession, submitted: str) -> bool:
    return (
        bool(submitted)
        and secrets.compare_digest(staff.csrf_token.encode(), submitted.encode())
        and _same_origin(request)
    )


def _render(
    request: Request,
    template: str,
    status_code: int = 200,
    *,
    staff: StaffSession | None,
    **context: Any,
) -> Response:
    context.setdefault("user", staff.username if staff else None)
    context.setdefault("practice", staff.ods if staff else None)
    context["status_words"] = STATUS_WORDS
    login_token = None
    if staff is not None:
        context["csrf_token"] = staff.csrf_token
    else:
        # Signed out: the form carries a token of its own, matched to a cookie (double submit).
        login_token = secrets.token_urlsafe(32)
        context["csrf_token"] = login_token
    html = templates.get_template(template).render(context)
    # Browsers send `Origin: null` on form posts from a no-referrer page; same-origin keeps
    # the real Origin on our own forms (checked in _same_origin) and still tells other sites
    # nothing.
    response = HTMLResponse(
        html, status_code=status_code, headers={"Referrer-Policy": "same-origin"}
    )
    if login_token is not None:
        response.set_cookie(
            LOGIN_COOKIE,
            login_token,
            max_age=1800,
            path=HOME,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
    return response


def _take_flash(request: Request, staff: StaffSession) -> str | None:
    with _uow(request) as uow:
        row = uow.inbox_sessions.get(staff.id_hash)
        flash = row.flash if row else None
        if row is not None and flash is not None:
            row.flash = None
            uow.commit()
    return flash


def _to_login() -> Response:
    return RedirectResponse(LOGIN, status_code=303)


def _forbidden(request: Request, staff: StaffSession | None) -> Response:
    return _render(
        request,
        "inbox/error.html",
        status_code=403,
        staff=staff,
        title="This form has expired",
        message="Please go back, reload the page and try again.",
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    if _session(request):
        return RedirectResponse(HOME, status_code=303)
    return _render(request, "inbox/login.html", staff=None, form={})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    practice: Annotated[str, Form(max_length=10)] = "",
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not (
        expected
        and csrf_token
        and secrets.compare_digest(expected.encode(), csrf_token.encode())
        and _same_origin(request)
    ):
        return _forbidden(request, None)
    form = {"practice": practice, "username": username}
    missing = [
        (name, label)
        for name, label, value in (
            ("practice", "Enter your practice's ODS code", practice),
            ("username", "Enter your username", username),
            ("password", "Enter your password", password),
        )
        if not value.strip()
    ]
    if missing:
        return _render(
            request, "inbox/login.html", status_code=422, staff=None, form=form, errors=missing
        )
    address = request.client.host if request.client else "-"
    try:
        request.app.state.sign_in_rate_limiter.check(f"inbox-sign-in:{address}")
    except RateLimited as limited:
        errors = [("practice", f"Too many sign-in attempts: {limited.detail}")]
        response = _render(
            request, "inbox/login.html", status_code=429, staff=None, form=form, errors=errors
        )
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    now = datetime.now(UTC)
    with _uow(request) as uow:
        account = sign_in(uow, ods_code=practice, username=username, password=password, now=now)
        if account is None:
            uow.commit()
            errors = [("practice", "The practice code, username or password is not right")]
            return _render(
                request, "inbox/login.html", status_code=401, staff=None, form=form, errors=errors
            )
        return _start_session(request, uow, account.user_id, account.practice_ods, now)


def _start_session(
    request: Request, uow: UnitOfWork, user_id: int, ods: str, now: datetime
) -> Response:
    """A fresh session (and CSRF token) at sign-in: nothing chosen before it carries over."""
    settings: Settings = request.app.state.settings
    session_id = secrets.token_urlsafe(32)
    uow.inbox_sessions.remove_expired(now=now)
    uow.inbox_sessions.add(
        InboxSession(
            id_hash=digest(session_id),
            user_id=user_id,
            practice_ods=ods,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.sessions.inbox_max_age_seconds),
        )
    )
    uow.commit()
    response = RedirectResponse(HOME, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=settings.sessions.inbox_max_age_seconds,
        path=HOME,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=HOME)
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    staff = _session(request)
    if staff is not None:
        if not _csrf_ok(request, staff, csrf_token):
            return _forbidden(request, staff)
        with _uow(request) as uow:
            uow.inbox_sessions.remove(staff.id_hash)
            uow.commit()
    response = _to_login()
    response.delete_cookie(COOKIE, path=HOME)
    return response


def _not_found(request: Request, staff: StaffSession) -> Response:
    return _render(
        request,
        "inbox/error.html",
        status_code=404,
        staff=staff,
        title="Request not found",
        message="There is no such request for your practice.",
    )


@router.get("", response_class=HTMLResponse)
def requests_page(request: Request) -> Response:
    staff = _session(request)
    if staff is None:
        return _to_login()
    with _uow(request) as uow:
        items = practice_inbox.pending(uow, staff.ods)
    flash = _take_flash(request, staff)
    return _render(request, "inbox/list.html", staff=staff, items=items, flash=flash)


@router.get("/requests/{recommendation_id}", response_class=HTMLResponse)
def request_page(request: Request, recommendation_id: str) -> Response:
    staff = _session(request)
    if staff is None:
        return _to_login()
    with _uow(request) as uow:
        item = practice_inbox.item(uow, staff.ods, recommendation_id)
    if item is None:
        return _not_found(request, staff)
    flash = _take_flash(request, staff)
    return _render(request, "inbox/detail.html", staff=staff, item=item, flash=flash)


@router.post("/requests/{recommendation_id}", response_class=HTMLResponse)
def act(
    request: Request,
    recommendation_id: str,
    action: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    pharmacy: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    staff = _session(request)
    if staff is None:
        return _to_login()
    if not _csrf_ok(request, staff, csrf_token):
        return _forbidden(request, staff)
    with _uow(request) as uow:
        try:
            status = practice_inbox.act(
                uow,
                staff.ods,
                recommendation_id,
                action,
                reason=reason,
                pharmacy=pharmacy,
                now=datetime.now(UTC),
            )
        except practice_inbox.InboxRefusal as refusal:
            uow.rollback()
            item = practice_inbox.item(uow, staff.ods, recommendation_id)
            if item is None:
                return _not_found(request, staff)
            return _render(
                request,
                "inbox/detail.html",
                # A conflict when the request no longer allows it (withdrawn), else invalid.
                status_code=status_for(refusal),
                staff=staff,
                item=item,
                errors=[(refusal.field, str(refusal))],
                chosen=action,
                form={"reason": reason, "pharmacy": pharmacy},
            )
        row = uow.inbox_sessions.get(staff.id_hash)
        if row is not None:
            row.flash = f"Done: the request is now marked {STATUS_WORDS.get(status, status)}."
        uow.commit()
    return RedirectResponse(f"{HOME}/requests/{recommendation_id}", status_code=303)
