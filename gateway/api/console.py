"""/console: the integration engineers' web console.

Server-rendered pages (Jinja2, a little JavaScript for live progress, no build step) over
the same use cases and queries as the /ops API: `gateway.api.ops` and
`gateway.api.practice_stats` are called as plain functions, `gateway.domain.replay` does
every replay. Deliveries are found and named by their ids and the recommendation id, never
by anything that identifies a patient.

Signing in: an engineer pastes an access token with the `ops` scope (from
`POST /oauth2/token`, or `liaison token --client <ops client>` in development). The token is
checked like any bearer token, then exchanged for a server-side session: the cookie holds a
random id (HttpOnly, SameSite=Strict, Secure behind HTTPS), the database holds its SHA-256,
the client and its scopes. Every request checks the session and the client registry again,
so revoking the client or its `ops` scope ends the session at once. Every form carries the
session's CSRF token; the sign-in form a token of its own (double-submit cookie).
"""

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.api import ops, practice_stats
from gateway.api import practices as practices_api
from gateway.api.auth import Principal, RateLimited, Unauthorized, current_principal
from gateway.api.dependencies import SettingsDep
from gateway.domain import replay
from gateway.domain.charts import PracticeTiming, time_to_ready_chart
from gateway.security.context import Actor, note_actor
from gateway.settings import Settings
from gateway.store.models import ConsoleSession
from gateway.store.unit_of_work import UnitOfWork

COOKIE = "liaison_console"
LOGIN_COOKIE = "liaison_console_login"
HERE = Path(__file__).parent
STATES = ("pending", "in-flight", "retrying", "dead")
PAGE_SIZE = 50
AGES = (
    ("", "any age"),
    ("300", "older than 5 minutes"),
    ("3600", "older than 1 hour"),
    ("86400", "older than 1 day"),
    ("604800", "older than 1 week"),
)
WINDOWS = (7, 30, 90, 365)
SIGN_IN_REASONS = {
    "expired": "Your session has ended. Sign in again.",
    "revoked": "Your client no longer has the ops scope, or was revoked.",
}

router = APIRouter(prefix="/console", include_in_schema=False)
# Rendered to a plain HTMLResponse: Starlette's template response would also send a debug
# message under the test client, ahead of the response the audit trail waits for.
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
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


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _secure(settings: Settings) -> bool:
    return settings.public_base_url.startswith("https://")


def _uow(request: Request) -> UnitOfWork:
    return UnitOfWork(request.app.state.session_factory)


def _engineer(request: Request) -> Engineer:
    raw = request.cookies.get(COOKIE)
    if not raw:
        raise NotSignedIn()
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    with _uow(request) as uow:
        row = uow.console_sessions.get(_digest(raw))
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


EngineerDep = Annotated[Engineer, Depends(_engineer)]


def _check_form(engineer: Engineer, csrf_token: str) -> None:
    if not hmac.compare_digest(engineer.csrf_token.encode(), csrf_token.encode()):
        raise FormExpired()


def _safe_next(target: str | None) -> str:
    """Only back into the console: never an open redirect."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return "/console/"


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _page(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    engineer: Engineer | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    html = templates.get_template(f"console/{name}").render(
        {"request": request, "engineer": engineer, "now": datetime.now(UTC), **context}
    )
    return HTMLResponse(html, status_code=status_code)


def _error(request: Request, engineer: Engineer | None, status: int, message: str) -> HTMLResponse:
    return _page(
        request,
        "error.html",
        {"status": status, "message": message},
        engineer=engineer,
        status_code=status,
    )


# Signing in and out


def _sign_in_page(
    request: Request, *, next_url: str, message: str | None, status_code: int = 200
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    form_token = secrets.token_urlsafe(32)
    response = _page(
        request,
        "login.html",
        {"next": _safe_next(next_url), "message": message, "form_token": form_token},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        form_token,
        max_age=1800,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, why: str | None = None) -> HTMLResponse:
    return _sign_in_page(
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
        return _sign_in_page(
            request,
            next_url=next,
            message="The sign-in form had expired. Paste your token again.",
            status_code=403,
        )
    if not token.strip():
        return _sign_in_page(
            request, next_url=next, message="token: paste an access token.", status_code=422
        )
    try:
        principal = current_principal(
            request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip())
        )
    except Unauthorized as exc:
        return _sign_in_page(request, next_url=next, message=exc.detail, status_code=401)
    except RateLimited as exc:
        return _sign_in_page(request, next_url=next, message=exc.detail, status_code=429)
    if "ops" not in principal.scopes:
        return _sign_in_page(
            request,
            next_url=next,
            message=("This token lacks the ops scope: the console is for integration engineers."),
            status_code=403,
        )
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with _uow(request) as uow:
        uow.console_sessions.remove_expired(now=now)
        uow.console_sessions.add(
            ConsoleSession(
                id_hash=_digest(session_id),
                client_id=principal.client_id,
                organisation_ods=principal.organisation_ods,
                kind=principal.kind,
                scopes=" ".join(sorted(principal.scopes)),
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(seconds=settings.console_session_max_age_seconds),
            )
        )
        uow.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=settings.console_session_max_age_seconds,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
def sign_out(
    request: Request,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    _check_form(engineer, csrf_token)
    with _uow(request) as uow:
        uow.console_sessions.remove(_digest(request.cookies.get(COOKIE, "")))
        uow.commit()
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# Overview and deliveries


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, engineer: EngineerDep, settings: SettingsDep) -> HTMLResponse:
    with _uow(request) as uow:
        queues = ops.queues(uow, settings, engineer.principal)
        firing = [a for a in uow.alerts.open() if a.raised_at is not None]
        return _page(
            request,
            "overview.html",
            {"queues": queues, "states": STATES, "alerts": firing},
            engineer=engineer,
        )


def _search_params(
    state: str | None,
    practice: str | None,
    recommendation_id: str | None,
    error: str | None,
    older_than_seconds: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """The list's filters, cleaned, and what is wrong with them (field: reason)."""
    problems: list[str] = []
    found: dict[str, Any] = {
        "state": _blank(state),
        "practice": (_blank(practice) or "").upper() or None,
        "recommendation_id": _blank(recommendation_id),
        "error": _blank(error),
        "older_than_seconds": None,
    }
    if found["state"] is not None and found["state"] not in ops.STATES:
        problems.append(f"state: unknown state {found['state']!r}")
        found["state"] = None
    for name, limit in (("practice", 10), ("recommendation_id", 36), ("error", 200)):
        if found[name] is not None and len(found[name]) > limit:
            problems.append(f"{name}: at most {limit} characters")
            found[name] = None
    age = _blank(older_than_seconds)
    if age is not None:
        if age.isdigit():
            found["older_than_seconds"] = int(age)
        else:
            problems.append("older_than_seconds: a whole number of seconds")
    return found, problems


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries(
    request: Request,
    engineer: EngineerDep,
    state: str | None = None,
    practice: str | None = None,
    recommendation_id: str | None = None,
    error: str | None = None,
    older_than_seconds: str | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> HTMLResponse:
    filters, problems = _search_params(
        state, practice, recommendation_id, error, older_than_seconds
    )
    offset, limit = max(0, offset), min(max(1, limit), 200)
    with _uow(request) as uow:
        page = ops.list_deliveries(
            request, uow, engineer.principal, limit=limit, offset=offset, **filters
        )
    query = {k: v for k, v in filters.items() if v is not None}
    previous = None
    if offset > 0:
        previous = "?" + urlencode({**query, "offset": max(0, offset - limit), "limit": limit})
    replay_query: dict[str, Any] = {
        k: query[k]
        for k in ("practice", "recommendation_id", "error", "older_than_seconds")
        if k in query
    }
    return _page(
        request,
        "deliveries.html",
        {
            "page": page,
            "filters": filters,
            "problems": problems,
            "states": ops.STATES,
            "ages": AGES,
            "previous": previous,
            "replay_link": "/console/replays/new?" + urlencode(replay_query),
        },
        engineer=engineer,
        status_code=422 if problems else 200,
    )


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
def delivery(request: Request, delivery_id: str, engineer: EngineerDep) -> HTMLResponse:
    with _uow(request) as uow:
        try:
            detail = ops.get_delivery(delivery_id, uow, engineer.principal)
        except HTTPException:
            return _error(request, engineer, 404, f"There is no delivery {delivery_id}.")
        recommendation = uow.recommendations.get(detail.recommendation_id)
        status = recommendation.status if recommendation else None
    return _page(
        request,
        "delivery.html",
        {"delivery": detail, "recommendation_status": status},
        engineer=engineer,
    )


@router.get("/deliveries/{delivery_id}/state")
def delivery_state(request: Request, delivery_id: str, engineer: EngineerDep) -> JSONResponse:
    """For the delivery page's script: reload when something changed."""
    with _uow(request) as uow:
        found = uow.deliveries.get(delivery_id)
        if found is None:
            return JSONResponse({"detail": f"no delivery {delivery_id}"}, status_code=404)
        return JSONResponse(
            {"state": found.state, "attempt_count": found.attempt_count},
            headers={"Cache-Control": "no-store"},
        )


@router.post("/deliveries/{delivery_id}/replay")
def replay_delivery(
    request: Request,
    delivery_id: str,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    _check_form(engineer, csrf_token)
    with _uow(request) as uow:
        try:
            new_id = replay.replay_delivery(uow, delivery_id, now=datetime.now(UTC))
        except replay.NotReplayable as exc:
            status = 404 if str(exc).startswith("no delivery") else 409
            return _error(request, engineer, status, str(exc))
        uow.commit()
    return RedirectResponse(f"/console/deliveries/{quote(new_id)}", status_code=303)


# Bulk replay: confirm, watch, cancel


def _replay_criteria(
    practice: str | None,
    recommendation_id: str | None,
    error: str | None,
    created_before: datetime | None,
    *,
    dry_run: bool,
) -> ops.ReplayCriteria:
    return ops.ReplayCriteria(
        practice_ods=_blank(practice),
        recommendation_id=_blank(recommendation_id),
        error_contains=_blank(error),
        created_before=created_before,
        dry_run=dry_run,
    )


def _confirmation(
    request: Request,
    engineer: Engineer,
    criteria: ops.ReplayCriteria,
    *,
    notice: str | None = None,
) -> HTMLResponse:
    with _uow(request) as uow:
        plan = ops.replay_many(criteria, uow, engineer.principal)
    return _page(
        request,
        "replay_confirm.html",
        {"plan": plan, "criteria": criteria, "notice": notice},
        engineer=engineer,
    )


@router.get("/replays/new", response_class=HTMLResponse)
def confirm_replay(
    request: Request,
    engineer: EngineerDep,
    practice: str | None = None,
    recommendation_id: str | None = None,
    error: str | None = None,
    older_than_seconds: str | None = None,
) -> HTMLResponse:
    filters, problems = _search_params(None, practice, recommendation_id, error, older_than_seconds)
    if problems:
        return _error(request, engineer, 422, "; ".join(problems))
    age = filters["older_than_seconds"]
    # Fixed now, so the batch replays what the engineer was shown, not what ages into it.
    before = datetime.now(UTC) - timedelta(seconds=age) if age is not None else None
    criteria = _replay_criteria(
        filters["practice"], filters["recommendation_id"], filters["error"], before, dry_run=True
    )
    return _confirmation(request, engineer, criteria)


@router.post("/replays")
def start_replay(
    request: Request,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    practice: Annotated[str, Form(max_length=10)] = "",
    recommendation_id: Annotated[str, Form(max_length=36)] = "",
    error: Annotated[str, Form(max_length=200)] = "",
    created_before: Annotated[str, Form(max_length=64)] = "",
    confirmed_total: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    _check_form(engineer, csrf_token)
    try:
        before = datetime.fromisoformat(created_before) if created_before else None
    except ValueError:
        return _error(request, engineer, 422, "created_before: not a date and time")
    criteria = _replay_criteria(practice, recommendation_id, error, before, dry_run=True)
    with _uow(request) as uow:
        plan = ops.replay_many(criteria, uow, engineer.principal)
    if plan.total != confirmed_total:
        # More (or fewer) dead letters match than the engineer agreed to: ask again.
        return _confirmation(
            request,
            engineer,
            criteria,
            notice=f"The number of matching deliveries changed from {confirmed_total} to "
            f"{plan.total}. Check and confirm again.",
        )
    if plan.total == 0:
        return _error(request, engineer, 409, "No dead delivery matches: nothing to replay.")
    with _uow(request) as uow:
        batch = ops.replay_many(
            criteria.model_copy(update={"dry_run": False}), uow, engineer.principal
        )
    return RedirectResponse(f"/console/replays/{quote(batch.id or '')}", status_code=303)


@router.get("/replays/{batch_id}", response_class=HTMLResponse)
def replay_batch(request: Request, batch_id: str, engineer: EngineerDep) -> HTMLResponse:
    with _uow(request) as uow:
        try:
            progress = ops.replay_progress(batch_id, uow, engineer.principal)
        except HTTPException:
            return _error(request, engineer, 404, f"There is no replay {batch_id}.")
        batch = uow.replays.get(batch_id)
        criteria = dict(batch.criteria) if batch else {}
        requested_by = batch.requested_by if batch else None
        created_at = batch.created_at if batch else None
    return _page(
        request,
        "replay.html",
        {
            "batch": progress,
            "criteria": criteria,
            "requested_by": requested_by,
            "created_at": created_at,
        },
        engineer=engineer,
    )


@router.get("/replays/{batch_id}/progress")
def replay_batch_progress(request: Request, batch_id: str, engineer: EngineerDep) -> JSONResponse:
    with _uow(request) as uow:
        try:
            progress = ops.replay_progress(batch_id, uow, engineer.principal)
        except HTTPException:
            return JSONResponse({"detail": f"no replay batch {batch_id}"}, status_code=404)
    return JSONResponse(progress.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.post("/replays/{batch_id}/cancel")
def cancel_replay_batch(
    request: Request,
    batch_id: str,
    engineer: EngineerDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    _check_form(engineer, csrf_token)
    with _uow(request) as uow:
        try:
            ops.cancel_replay(batch_id, uow, engineer.principal)
        except HTTPException:
            return _error(request, engineer, 404, f"There is no replay {batch_id}.")
    return RedirectResponse(f"/console/replays/{quote(batch_id)}", status_code=303)


# Practices and alerts


@dataclass(frozen=True)
class PracticeRow:
    view: practices_api.PracticeView
    last_success: datetime | None
    waiting: int
    dead: int
    stats: practice_stats.PracticeStats


@router.get("/practices", response_class=HTMLResponse)
def practices(request: Request, engineer: EngineerDep, days: int = 90) -> HTMLResponse:
    days = days if days in WINDOWS else 90
    rows: list[PracticeRow] = []
    with _uow(request) as uow:
        last_success = uow.practice_health.last_success()
        waiting: dict[str, int] = {}
        dead: dict[str, int] = {}
        for ods, state, count, _ in uow.delivery_search.counts():
            if state in ops.WAITING:
                waiting[ods] = waiting.get(ods, 0) + count
            elif state == "dead":
                dead[ods] = count
        for view in practices_api.list_practices(uow, engineer.principal).practices:
            stats = practice_stats.practice_stats(view.ods_code, uow, engineer.principal, days=days)
            rows.append(
                PracticeRow(
                    view=view,
                    last_success=last_success.get(view.ods_code),
                    waiting=waiting.get(view.ods_code, 0),
                    dead=dead.get(view.ods_code, 0),
                    stats=stats,
                )
            )
    chart = time_to_ready_chart(
        [
            PracticeTiming(
                r.view.ods_code, r.stats.median_seconds, r.stats.p90_seconds, r.stats.ready
            )
            for r in rows
        ],
        window_days=days,
    )
    return _page(
        request,
        "practices.html",
        {"practices": rows, "chart": chart, "days": days, "windows": WINDOWS},
        engineer=engineer,
    )


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, engineer: EngineerDep) -> HTMLResponse:
    now = datetime.now(UTC)
    with _uow(request) as uow:
        raised = list(uow.alerts.raised(resolved_since=now - timedelta(days=7)))
        watching = [a for a in uow.alerts.open() if a.raised_at is None]
        return _page(
            request,
            "alerts.html",
            {"raised": raised, "watching": watching},
            engineer=engineer,
        )


# Wiring


def _format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 72:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    return _format_seconds((datetime.now(UTC) - value).total_seconds()) + " ago"


templates.filters["when"] = _format_time
templates.filters["duration"] = _format_seconds
templates.filters["ago"] = _ago


def install(app: FastAPI) -> None:
    """Add the console's routes, its static files and its sign-in redirects to the app."""
    app.include_router(router)
    app.mount(
        "/console/static",
        StaticFiles(directory=HERE / "static" / "console"),
        name="console-static",
    )

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        query: dict[str, str] = {"next": target if request.method == "GET" else "/console/"}
        if exc.reason:
            query["why"] = exc.reason
        response = RedirectResponse("/console/login?" + urlencode(query), status_code=303)
        if exc.reason:
            response.delete_cookie(COOKIE, path="/console")
        return response

    @app.exception_handler(FormExpired)
    async def form_expired(request: Request, exc: FormExpired) -> Response:
        return _error(
            request,
            None,
            403,
            "This form had expired or did not come from the console. Go back, reload the "
            "page and try again.",
        )
