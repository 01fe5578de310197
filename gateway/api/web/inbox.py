"""The practice inbox: server-rendered pages for practices with no GP system integration.

Staff sign in for their practice (username and password, argon2id-hashed, their own
accounts, separate from API clients), see the requests waiting for them, and act on them.
The session is held server-side, by the scheme the console shares (gateway.api.web.sessions):
the cookie, scoped to /inbox (SameSite=Strict, HttpOnly, Secure behind HTTPS), holds only a
random id, so signing out ends it at once. Every form carries the session's CSRF token (the
sign-in form a token of its own, matched to a cookie), checked in constant time, and a form
whose Origin names another site is refused. No JavaScript is needed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.api.auth import RateLimited
from gateway.api.error_kinds import status_for
from gateway.api.web import sessions
from gateway.api.web.sessions import LiveSession, NewSession, SessionConfig, unit_of_work
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
STATUS_WORDS = {
    "delivered": "New",
    "accepted": "Accepted",
    "appointment-needed": "Waiting to see the patient",
    "prescription-issued": "Prescription issued",
    "ready-to-collect": "Ready to collect",
    "rejected": "Rejected",
    "cancelled": "Withdrawn",
}


@dataclass(frozen=True)
class StaffSession:
    id_hash: str
    user_id: int
    ods: str
    username: str
    csrf_token: str


def _max_age(settings: Settings) -> int:
    return settings.sessions.inbox_max_age_seconds


def _secure(settings: Settings) -> bool:
    return sessions.secure_cookies(settings) or settings.sessions.inbox_secure_cookies


INBOX_SESSIONS: Final[SessionConfig[InboxSession]] = SessionConfig(
    cookie="liaison_inbox",
    login_cookie="liaison_inbox_login",
    path=HOME,
    max_age=_max_age,
    store=lambda uow: uow.inbox_sessions,
    secure=_secure,
    check_origin=True,
)


def _staff(uow: UnitOfWork, row: InboxSession) -> StaffSession | None:
    """Who holds the session, while their account is active and still of that practice."""
    user = uow.inbox.user_by_id(row.user_id)
    if user is None or not user.active or user.practice_ods != row.practice_ods:
        return None
    return StaffSession(row.id_hash, user.id, row.practice_ods, user.username, row.csrf_token)


def _session(request: Request) -> StaffSession | None:
    """The live server-side session the cookie names, whose account is still active."""
    live = sessions.read_session(request, INBOX_SESSIONS, _staff)
    if not isinstance(live, LiveSession):
        return None
    found = live.holder
    note_actor(
        Actor(
            client_id=f"inbox:{found.ods}",
            organisation_ods=found.ods,
            kind="inbox",
            user=found.username,
        )
    )
    return found


def _csrf_ok(request: Request, staff: StaffSession, submitted: str) -> bool:
    return sessions.form_ok(request, INBOX_SESSIONS, staff.csrf_token, submitted)


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
        login_token = sessions.mint_login_token()
        context["csrf_token"] = login_token
    html = templates.get_template(template).render(context)
    # Browsers send `Origin: null` on form posts from a no-referrer page; same-origin keeps
    # the real Origin on our own forms (checked by sessions.same_origin) and still tells other sites
    # nothing.
    response = HTMLResponse(
        html, status_code=status_code, headers={"Referrer-Policy": "same-origin"}
    )
    if login_token is not None:
        sessions.set_login_cookie(request, response, INBOX_SESSIONS, login_token)
    return response


def _take_flash(request: Request, staff: StaffSession) -> str | None:
    with unit_of_work(request) as uow:
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
    if not sessions.login_form_ok(request, INBOX_SESSIONS, csrf_token):
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
    with unit_of_work(request) as uow:
        account = sign_in(uow, ods_code=practice, username=username, password=password, now=now)
        if account is None:
            uow.commit()
            errors = [("practice", "The practice code, username or password is not right")]
            return _render(
                request, "inbox/login.html", status_code=401, staff=None, form=form, errors=errors
            )
        # A fresh session (and CSRF token) at sign-in: nothing chosen before it carries over.
        return sessions.start_session(
            request,
            INBOX_SESSIONS,
            uow,
            lambda new: _session_row(new, account.user_id, account.practice_ods),
            now=now,
            redirect_to=HOME,
        )


def _session_row(new: NewSession, user_id: int, ods: str) -> InboxSession:
    return InboxSession(
        id_hash=new.id_hash,
        user_id=user_id,
        practice_ods=ods,
        csrf_token=new.csrf_token,
        created_at=new.created_at,
        expires_at=new.expires_at,
    )


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    staff = _session(request)
    if staff is not None and not _csrf_ok(request, staff, csrf_token):
        return _forbidden(request, staff)
    return sessions.sign_out(request, INBOX_SESSIONS, redirect_to=LOGIN)


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
    with unit_of_work(request) as uow:
        items = practice_inbox.pending(uow, staff.ods)
    flash = _take_flash(request, staff)
    return _render(request, "inbox/list.html", staff=staff, items=items, flash=flash)


@router.get("/requests/{recommendation_id}", response_class=HTMLResponse)
def request_page(request: Request, recommendation_id: str) -> Response:
    staff = _session(request)
    if staff is None:
        return _to_login()
    with unit_of_work(request) as uow:
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
    with unit_of_work(request) as uow:
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
