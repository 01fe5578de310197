"""/console: the integration engineers' web console.

Server-rendered pages (Jinja2, a little JavaScript for live progress, no build step) over
the same use cases and queries as the /ops API: `gateway.services.delivery_ops` finds, reads
and replays deliveries, `gateway.services.practice_overview` reads the practices, and their
refusals answer with the status `gateway.api.error_kinds` gives their kind. Deliveries are
found and named by their ids and the recommendation id, never by anything that identifies a
patient.

Signing in: an engineer pastes an access token with the `ops` scope (from
`POST /oauth2/token`, or `liaison token --client <ops client>` in development). The token is
checked like any bearer token, then exchanged for a server-side session: the cookie holds a
random id (HttpOnly, SameSite=Strict, Secure behind HTTPS), the database holds its SHA-256,
the client and its scopes (the scheme the inbox shares: gateway.api.web.sessions). Every
request checks the session and the client registry again, so revoking the client or its
`ops` scope ends the session at once. Every form carries the session's CSRF token; the
sign-in form a token of its own (double-submit cookie).
"""

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

# The page modules register their routes on the shared router when imported.
from gateway.api.web.console import deliveries, practices, replays, sign_in  # noqa: F401
from gateway.api.web.console.pages import API_DIR, error_page, router
from gateway.api.web.console.session import CONSOLE_SESSIONS, FormExpired, NotSignedIn
from gateway.api.web.sessions import forget_cookie


def install(app: FastAPI) -> None:
    """Add the console's routes, its static files and its sign-in redirects to the app."""
    app.include_router(router)
    app.mount(
        "/console/static",
        StaticFiles(directory=API_DIR / "static" / "console"),
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
            forget_cookie(response, CONSOLE_SESSIONS)
        return response

    @app.exception_handler(FormExpired)
    async def form_expired(request: Request, exc: FormExpired) -> Response:
        return error_page(
            request,
            None,
            403,
            "This form had expired or did not come from the console. Go back, reload the "
            "page and try again.",
        )
