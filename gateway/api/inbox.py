"""The practice inbox: server-rendered pages for practices with no GP system integration.

Staff sign in for their practice (username and password, argon2id-hashed, their own
accounts, separate from API clients), see the requests waiting for them, and act on them.
The session is a signed cookie scoped to /inbox (SameSite=Strict, HttpOnly); every form
carries a per-session CSRF token, checked in constant time. No JavaScript is needed.
"""

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.api.auth import RateLimited
from gateway.domain import practice_inbox
from gateway.domain.inbox_accounts import sign_in
from gateway.security.context import Actor, note_actor
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


def _uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.session_factory)


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def _csrf_ok(request: Request, submitted: str) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not submitted:
        return False
    if not secrets.compare_digest(expected.encode(), submitted.encode()):
        return False
    # A form posted from another site is refused even if it somehow carried the token.
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def _render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("user", request.session.get("username"))
    context.setdefault("practice", request.session.get("ods"))
    context["csrf_token"] = _csrf(request)
    context["status_words"] = STATUS_WORDS
    html = templates.get_template(template).render(context)
    # Browsers send `Origin: null` on form posts from a no-referrer page; same-origin keeps
    # the real Origin on our own forms (checked in _csrf_ok) and still tells other sites
    # nothing.
    return HTMLResponse(html, status_code=status_code, headers={"Referrer-Policy": "same-origin"})


def _signed_in(request: Request) -> tuple[str, str] | None:
    """(practice ODS, username) of a live session whose account is still active."""
    user_id, ods = request.session.get("user_id"), request.session.get("ods")
    if not isinstance(user_id, int) or not isinstance(ods, str):
        return None
    with _uow(request) as uow:
        user = uow.inbox.user_by_id(user_id)
        if user is None or not user.active or user.practice_ods != ods:
            request.session.clear()
            return None
        username = user.username
    note_actor(Actor(client_id=f"inbox:{ods}", organisation_ods=ods, kind="inbox", user=username))
    return ods, username


def _to_login() -> Response:
    return RedirectResponse(LOGIN, status_code=303)


def _forbidden(request: Request) -> Response:
    return _render(
        request,
        "inbox/error.html",
        status_code=403,
        title="This form has expired",
        message="Please go back, reload the page and try again.",
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    if _signed_in(request):
        return RedirectResponse(HOME, status_code=303)
    return _render(request, "inbox/login.html", form={})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    practice: Annotated[str, Form(max_length=10)] = "",
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    if not _csrf_ok(request, csrf_token):
        return _forbidden(request)
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
        return _render(request, "inbox/login.html", status_code=422, form=form, errors=missing)
    address = request.client.host if request.client else "-"
    try:
        request.app.state.sign_in_rate_limiter.check(f"inbox-sign-in:{address}")
    except RateLimited as limited:
        errors = [("practice", f"Too many sign-in attempts: {limited.detail}")]
        response = _render(request, "inbox/login.html", status_code=429, form=form, errors=errors)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    with _uow(request) as uow:
        account = sign_in(
            uow, ods_code=practice, username=username, password=password, now=datetime.now(UTC)
        )
        uow.commit()
    if account is None:
        errors = [("practice", "The practice code, username or password is not right")]
        return _render(request, "inbox/login.html", status_code=401, form=form, errors=errors)
    # A fresh session (and CSRF token) at sign-in: nothing chosen before it carries over.
    request.session.clear()
    request.session.update(
        {
            "user_id": account.user_id,
            "ods": account.practice_ods,
            "username": account.username,
            "csrf": secrets.token_urlsafe(32),
        }
    )
    return RedirectResponse(HOME, status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    if _signed_in(request) and not _csrf_ok(request, csrf_token):
        return _forbidden(request)
    request.session.clear()
    return _to_login()


@router.get("", response_class=HTMLResponse)
def requests_page(request: Request) -> Response:
    who = _signed_in(request)
    if who is None:
        return _to_login()
    ods, _ = who
    with _uow(request) as uow:
        items = practice_inbox.pending(uow, ods)
    return _render(
        request, "inbox/list.html", items=items, flash=request.session.pop("flash", None)
    )


@router.get("/requests/{recommendation_id}", response_class=HTMLResponse)
def request_page(request: Request, recommendation_id: str) -> Response:
    who = _signed_in(request)
    if who is None:
        return _to_login()
    with _uow(request) as uow:
        item = practice_inbox.item(uow, who[0], recommendation_id)
    if item is None:
        return _render(
            request,
            "inbox/error.html",
            status_code=404,
            title="Request not found",
            message="There is no such request for your practice.",
        )
    return _render(
        request, "inbox/detail.html", item=item, flash=request.session.pop("flash", None)
    )


@router.post("/requests/{recommendation_id}", response_class=HTMLResponse)
def act(
    request: Request,
    recommendation_id: str,
    action: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    pharmacy: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    who = _signed_in(request)
    if who is None:
        return _to_login()
    if not _csrf_ok(request, csrf_token):
        return _forbidden(request)
    with _uow(request) as uow:
        try:
            status = practice_inbox.act(
                uow,
                who[0],
                recommendation_id,
                action,
                reason=reason,
                pharmacy=pharmacy,
                now=datetime.now(UTC),
            )
        except practice_inbox.InboxRefusal as refusal:
            uow.rollback()
            item = practice_inbox.item(uow, who[0], recommendation_id)
            if item is None:
                return _render(
                    request,
                    "inbox/error.html",
                    status_code=404,
                    title="Request not found",
                    message="There is no such request for your practice.",
                )
            return _render(
                request,
                "inbox/detail.html",
                # 409 when the request no longer allows it (withdrawn), 422 for the form.
                status_code=refusal.status_code,
                item=item,
                errors=[(refusal.field, str(refusal))],
                chosen=action,
                form={"reason": reason, "pharmacy": pharmacy},
            )
        uow.commit()
    request.session["flash"] = (
        f"Done: the request is now marked {STATUS_WORDS.get(status, status)}."
    )
    return RedirectResponse(f"{HOME}/requests/{recommendation_id}", status_code=303)
