"""The console's pages: one router, the templates and their filters, page and error rendering."""

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.api.web.console.session import Engineer

API_DIR = Path(__file__).parent.parent

router = APIRouter(prefix="/console", include_in_schema=False)
# Rendered to a plain HTMLResponse: Starlette's template response would also send a debug
# message under the test client, ahead of the response the audit trail waits for.
templates = Environment(
    loader=FileSystemLoader(API_DIR / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def render_page(
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
    # Browsers send `Origin: null` on form posts from a no-referrer page; same-origin keeps the
    # real Origin on the console's own forms (checked by gateway.api.web.sessions.same_origin)
    # and still tells other sites nothing.
    return HTMLResponse(html, status_code=status_code, headers={"Referrer-Policy": "same-origin"})


def error_page(
    request: Request, engineer: Engineer | None, status: int, message: str
) -> HTMLResponse:
    return render_page(
        request,
        "error.html",
        {"status": status, "message": message},
        engineer=engineer,
        status_code=status,
    )


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
