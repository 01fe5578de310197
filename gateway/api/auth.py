"""Bearer access tokens on the API: issued by POST /oauth2/token (gateway.api.oauth) after a
signed client assertion, checked on every request.

Signing and reading the token itself is gateway.security.tokens (an HS256 JWT whose `kid`
names the key, so a rotation keeps tokens already issued valid). Each request
also reads the client registry: a revoked client is refused at once, and a registered
client's scopes and organisation are the registry's, whatever an older token says. In
production a token must name a registered client; in development, tokens minted directly
with `issue_token` (tests, `liaison token`) stand for what the endpoint would issue.
"""

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.domain.errors import ErrorKind, LiaisonError
from gateway.security.context import Actor, note_actor
from gateway.security.tokens import (
    ALL_SCOPES,
    Principal,
    Unauthorized,
    issue_token,
    key_id,
    read_token,
)
from gateway.settings import Settings
from gateway.store.models import ApiClient
from gateway.store.unit_of_work import UnitOfWork

# ALL_SCOPES, issue_token and key_id: re-exported for callers written before the token code
# moved to gateway.security.tokens, where new code imports them from.
__all__ = ["ALL_SCOPES", "Forbidden", "Principal", "RateLimited", "Unauthorized", "issue_token"]
__all__ += ["current_principal", "key_id", "require_scope", "required_scopes"]
__all__ += ["needs_bearer_token"]

_bearer = HTTPBearer(auto_error=False, description="an access token from POST /oauth2/token")


class Forbidden(LiaisonError):
    """The caller is known, but its token does not allow this."""

    kind = ErrorKind.FORBIDDEN


class RateLimited(Exception):
    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


def _registered(request: Request, client_id: str) -> ApiClient | None:
    # Read fresh on every request, outside the request's transaction: revocation is
    # immediate. One statement in autocommit: a lone read needs no BEGIN and ROLLBACK, two
    # round trips of the three it cost (docs/BENCHMARKS.md, fix 8).
    with UnitOfWork(request.app.state.session_factory) as uow:
        uow.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        client = uow.clients.get(client_id)
        if client is not None:
            uow.session.expunge(client)
        return client


def _as_registered(settings: Settings, principal: Principal, client: ApiClient | None) -> Principal:
    if client is None:
        if settings.environment == "production":
            raise Unauthorized(f"the client {principal.client_id!r} is not registered")
        return principal
    if client.status != "active":
        raise Unauthorized(f"the client {principal.client_id!r} has been revoked")
    if client.organisation_ods != principal.organisation_ods:
        raise Unauthorized("the bearer token's organisation does not match the registered one")
    return Principal(
        client_id=client.client_id,
        organisation_ods=client.organisation_ods,
        scopes=principal.scopes & frozenset(client.scopes.split()),
        kind=client.kind,
        practice_ods=client.organisation_ods if client.kind == "gp-practice" else None,
    )


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    settings: Settings = request.app.state.settings
    principal = read_token(settings, credentials.credentials)
    principal = _as_registered(settings, principal, _registered(request, principal.client_id))
    note_actor(
        Actor(
            client_id=principal.client_id,
            organisation_ods=principal.organisation_ods,
            kind=principal.kind,
        )
    )
    request.state.principal = principal
    limiter = getattr(request.app.state, "client_rate_limiter", None)
    if limiter is not None:
        limiter.check(principal.client_id)
    return principal


def require_scope(scope: str) -> Any:
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if scope not in principal.scopes:
            raise Forbidden(f"this token lacks the {scope!r} scope")
        return principal

    check.required_scope = scope  # type: ignore[attr-defined]
    return Depends(check)


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def required_scopes(route: APIRoute) -> set[str]:
    """The scopes a route's dependencies demand (for the route-enumeration test and docs)."""
    return {
        scope
        for call in _calls(route.dependant)
        if (scope := getattr(call, "required_scope", None))
    }


def needs_bearer_token(route: APIRoute) -> bool:
    return any(call is current_principal for call in _calls(route.dependant))
