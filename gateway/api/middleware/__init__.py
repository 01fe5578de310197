"""What every request passes through before and after its route.

Outermost first:
- `RequestContextMiddleware`: the correlation id (echoed as `X-Correlation-ID`), the
  request's audit context, one JSON access-log line (method, route template, status,
  duration, client id: never the path, the query string or the body), and the names found
  in a JSON request body handed to the log redactor once the caller is authenticated;
- `SecurityHeaders`: nosniff, no framing, no referrer, a Content-Security-Policy, no-store
  on everything that is not public;
- `RefuseHostileInput` (gateway.api.middleware.hostile_input): control characters in the URL, NUL in
  a body, JSON nested too deep: 400 before any route;
- `StrictContentType`: a body must be declared as what its route reads (415 otherwise);
- the audit trail (gateway.api.middleware.audit_trail) and the body-size limit
  (gateway.api.problems).

Rate limits are per client (token bucket per process; the authentication dependency
calls it) with 429 and `Retry-After`. CORS is off unless origins are configured.
"""

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from gateway.api.auth import RateLimited
from gateway.api.middleware.audit_trail import AuditTrail
from gateway.api.middleware.headers import SecurityHeaders, StrictContentType
from gateway.api.middleware.hostile_input import RefuseHostileInput
from gateway.api.middleware.rate_limits import TokenBucketLimiter
from gateway.api.middleware.request_context import RequestContextMiddleware
from gateway.api.problems import problem
from gateway.security.context import install_tracking
from gateway.settings import Settings


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Add the middlewares above (call after every other middleware is added, so these
    wrap them) and the 429 handler."""
    install_tracking()  # the audit trail learns which recommendations each request touched
    app.state.client_rate_limiter = TokenBucketLimiter(settings.api.client_rate_limit_per_minute)
    app.state.token_rate_limiter = TokenBucketLimiter(settings.api.token_rate_limit_per_minute)
    app.state.sign_in_rate_limiter = TokenBucketLimiter(
        settings.api.inbox_sign_in_rate_limit_per_minute
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

    app.add_middleware(AuditTrail)
    app.add_middleware(StrictContentType)
    if settings.api.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_allow_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(RefuseHostileInput, max_body_bytes=settings.api.max_body_bytes)
    app.add_middleware(SecurityHeaders, production=settings.environment == "production")
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.api.max_body_bytes)
