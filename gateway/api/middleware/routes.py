"""What the middleware knows of routes: which are public, the matched route's template, and
the media type a request body is declared as."""

from starlette.datastructures import Headers
from starlette.types import Scope

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

JSON_BODIES = frozenset({"application/json", "application/fhir+json"})


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


def media_type(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()
