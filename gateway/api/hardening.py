"""What every request passes through before and after its route.

Outermost first:
- `RequestContextMiddleware`: the correlation id (echoed as `X-Correlation-ID`), the
  request's audit context, one JSON access-log line (method, route template, status,
  duration, client id: never the path, the query string or the body), and the names found
  in a JSON request body handed to the log redactor once the caller is authenticated;
- `SecurityHeaders`: nosniff, no framing, no referrer, a Content-Security-Policy, no-store
  on everything that is not public;
- `StrictContentType`: a body must be declared as what its route reads (415 otherwise);
- the audit trail (gateway.api.audit) and the body-size limit (gateway.api.problems).

Rate limits are per client (token bucket per process; the authentication dependency
calls it) with 429 and `Retry-After`. CORS is off unless origins are configured.
"""

import contextlib
import json
import math
import threading
import time

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.auth import RateLimited
from gateway.api.problems import problem
from gateway.logging import CORRELATION_HEADER, accepted_correlation_id, correlation, get_logger
from gateway.security.context import (
    RequestContext,
    begin_request,
    end_request,
    install_tracking,
)
from gateway.security.redaction import names_in
from gateway.settings import Settings

# Routes anyone may call without credentials: (path template, methods). Everything else must
# refuse a caller without a valid token (or, for the practice inbox, a signed-in session).
PUBLIC_ROUTES: dict[str, frozenset[str]] = {
    "/healthz": frozenset({"GET"}),
    "/readyz": frozenset({"GET"}),
    "/fhir/metadata": frozenset({"GET"}),
    "/oauth2/token": frozenset({"POST"}),
    "/inbox/login": frozenset({"GET", "POST"}),
    # The engineers' console signs in by pasting an ops token (checked as a bearer token).
    "/console/login": frozenset({"GET", "POST"}),
    "/openapi.json": frozenset({"GET", "HEAD"}),
    "/docs": frozenset({"GET", "HEAD"}),
    "/docs/oauth2-redirect": frozenset({"GET", "HEAD"}),
    "/redoc": frozenset({"GET", "HEAD"}),
}

_JSON = frozenset({"application/json", "application/fhir+json"})
_FORM = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Path prefix -> media types a request body may be declared as.
_ACCEPTED_BODIES: tuple[tuple[str, frozenset[str]], ...] = (
    ("/oauth2/token", frozenset({"application/x-www-form-urlencoded"})),
    ("/inbox", _FORM),
    ("/console", _FORM),
    ("/", _JSON),
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

access_log = get_logger("liaison.access")
# RFC 9110 section 9 and PATCH (RFC 5789); any other method token is logged as "other".
_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_MAX_BUCKETS = 10_000


def is_public(path_template: str, method: str) -> bool:
    return method.upper() in PUBLIC_ROUTES.get(path_template, frozenset())


def route_template(scope: Scope) -> str | None:
    """The matched route's path template (with any include prefix), None before routing."""
    # FastAPI keeps the effective route (prefixes applied) under scope["fastapi"]; the
    # route object in scope["route"] knows only its own router's path.
    effective = scope.get("fastapi", {}).get("effective_route_context")
    for candidate in (effective, scope.get("route")):
        path = getattr(candidate, "path", None)
        if isinstance(path, str) and path:
            return path
    return None


def _media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


class TokenBucketLimiter:
    """`per_minute` requests per key per minute, with bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, *, now: float | None = None) -> None:
        if self.capacity <= 0:
            return
        at = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, at))
            tokens = min(self.capacity, tokens + (at - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, at)
                retry_after = max(1, math.ceil((1.0 - tokens) / self.rate))
                raise RateLimited(
                    f"rate limit of {int(self.capacity)} requests a minute reached; "
                    f"retry after {retry_after} s",
                    retry_after=retry_after,
                )
            self._buckets[key] = (tokens - 1.0, at)
            if len(self._buckets) > _MAX_BUCKETS:
                self._forget_full(at)

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: keeps memory bounded when
        # many addresses call the token endpoint.
        self._buckets = {
            key: (tokens, last)
            for key, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate < self.capacity
        }
        if len(self._buckets) > _MAX_BUCKETS // 2:
            # Under a flood of distinct keys, the least recently seen go first.
            recent = sorted(self._buckets.items(), key=lambda item: item[1][1])
            self._buckets = dict(recent[-(_MAX_BUCKETS // 2) :])


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        context = RequestContext(
            correlation_id=accepted_correlation_id(headers.get(CORRELATION_HEADER)),
            remote_addr=client[0] if client else None,
        )
        status = 500
        started = time.monotonic()
        reads_json = _media_type(headers) in _JSON
        body = bytearray()

        async def receive_and_learn() -> Message:
            # Names in a JSON body are found as it arrives and taught to the log redactor
            # once the caller is authenticated (RequestContext), before a handler can log or
            # raise with them; the body-size limit further in caps what is buffered here.
            message = await receive()
            if reads_json and message["type"] == "http.request":
                if len(body) <= self.max_body_bytes:
                    body.extend(message.get("body", b""))
                if not message.get("more_body", False) and len(body) <= self.max_body_bytes:
                    with contextlib.suppress(ValueError):  # not JSON: the route will say so
                        context.note_body_names(names_in(json.loads(body)))
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = context.correlation_id
            await send(message)

        token = begin_request(context)
        with correlation(context.correlation_id):
            try:
                await self.app(scope, receive_and_learn, send_with_id)
            finally:
                actor = context.actor
                # Only these fields, all Liaison's own values: never the path, the query or
                # anything from the body.
                access_log.info(
                    "request",
                    method=scope["method"] if scope["method"] in _METHODS else "other",
                    route=route_template(scope) or "(no route)",
                    status=status,
                    duration_ms=round((time.monotonic() - started) * 1000, 1),
                    client_id=actor.client_id if actor else None,
                )
                end_request(token)


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
            media_type = _media_type(headers)
            if media_type not in accepted:
                response = problem(
                    415,
                    "Unsupported media type",
                    f"Content-Type: {media_type or 'missing'} is not accepted here; "
                    f"send {' or '.join(sorted(accepted))}",
                    errors=[{"field": "Content-Type", "detail": "Content-Type: not accepted"}],
                    fhir=path.startswith("/fhir"),
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_hardening(app: FastAPI, settings: Settings) -> None:
    """Add the middlewares above (call after every other middleware is added, so these
    wrap them) and the 429 handler."""
    install_tracking()  # the audit trail learns which recommendations each request touched
    app.state.client_rate_limiter = TokenBucketLimiter(settings.client_rate_limit_per_minute)
    app.state.token_rate_limiter = TokenBucketLimiter(settings.token_rate_limit_per_minute)
    app.state.sign_in_rate_limiter = TokenBucketLimiter(
        settings.inbox_sign_in_rate_limit_per_minute
    )

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        return problem(
            429,
            "Too many requests",
            exc.detail,
            headers={"Retry-After": str(exc.retry_after)},
            fhir=request.url.path.startswith("/fhir"),
        )

    from gateway.api.audit import AuditTrail

    app.add_middleware(AuditTrail)
    app.add_middleware(StrictContentType)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(SecurityHeaders, production=settings.environment == "production")
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
