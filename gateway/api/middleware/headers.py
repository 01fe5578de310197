"""Response headers and declared bodies: nosniff, no framing, no referrer, a
Content-Security-Policy, no-store on everything that is not public; and a body must be
declared as what its route reads (415 otherwise)."""

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.middleware.routes import JSON_BODIES, is_public, media_type, route_template
from gateway.api.problems import problem

_FORM = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Path prefix -> media types a request body may be declared as.
_ACCEPTED_BODIES: tuple[tuple[str, frozenset[str]], ...] = (
    ("/oauth2/token", frozenset({"application/x-www-form-urlencoded"})),
    ("/inbox", _FORM),
    ("/console", _FORM),
    ("/", JSON_BODIES),
)

_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
# Swagger UI and ReDoc load their files from DOCS_ASSETS (this app) and start with an inline
# script; ReDoc runs its search in a Web Worker made from a blob: URL.
DOCS_ASSETS = "/docs/assets"
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # Plain Starlette routes (the docs pages) have no template: use the path.
                template = route_template(scope) or scope["path"]
                html = headers.get("content-type", "").startswith("text/html")
                if template in ("/docs", "/redoc"):
                    csp = _DOCS_CSP
                else:
                    csp = _PAGE_CSP if html else _API_CSP
                for name, value in (
                    ("X-Content-Type-Options", "nosniff"),
                    ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "no-referrer"),
                    ("Cross-Origin-Opener-Policy", "same-origin"),
                    ("Cross-Origin-Resource-Policy", "same-origin"),
                    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
                    ("Content-Security-Policy", csp),
                ):
                    headers.setdefault(name, value)
                if not is_public(template, scope["method"]):
                    # Patient data must not linger in browser or proxy caches.
                    headers.setdefault("Cache-Control", "no-store")
                if self.production:
                    headers.setdefault(
                        "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)


class StrictContentType:
    """A request with a body must say it is what its route reads: JSON (or FHIR JSON) for
    the API, a form for the token endpoint and the inbox. Anything else is 415, before any
    handler parses it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        has_body = "transfer-encoding" in headers or (declared not in (None, "", "0"))
        if has_body:
            path: str = scope["path"]
            accepted = next(a for prefix, a in _ACCEPTED_BODIES if path.startswith(prefix))
            declared = media_type(headers)
            if declared not in accepted:
                response = problem(
                    415,
                    "Unsupported media type",
                    f"Content-Type: {declared or 'missing'} is not accepted here; "
                    f"send {' or '.join(sorted(accepted))}",
                    errors=[{"field": "Content-Type", "detail": "Content-Type: not accepted"}],
                    fhir=path.startswith("/fhir"),
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
