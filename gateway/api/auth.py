"""Bearer access tokens: issued by POST /oauth2/token (gateway.api.oauth) after a signed
client assertion, checked on every request.

An access token is an HS256 JWT signed with `LIAISON_SECRET_KEY`; its `kid` header names
the key, so a rotation (`LIAISON_PREVIOUS_SECRET_KEYS`) keeps tokens already issued valid
and a token signed with any other key is refused as signed by an unknown key. Each request
also reads the client registry: a revoked client is refused at once, and a registered
client's scopes and organisation are the registry's, whatever an older token says. In
production a token must name a registered client; in development, tokens minted directly
with `issue_token` (tests, `liaison token`) stand for what the endpoint would issue.
"""

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.security.context import Actor, note_actor
from gateway.settings import Settings
from gateway.store.models import ApiClient
from gateway.store.unit_of_work import UnitOfWork

ALL_SCOPES = ("recommendations", "fhir", "ops")
ISSUER = "liaison"
AUDIENCE = "liaison-api"
_bearer = HTTPBearer(auto_error=False, description="an access token from POST /oauth2/token")


class Unauthorized(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Forbidden(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RateLimited(Exception):
    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which tenant, allowed what.

    `organisation_ods` is the tenant: the mental-health organisation of a case-management
    app, or the practice of a GP practice system (then also `practice_ods`)."""

    client_id: str
    organisation_ods: str
    scopes: frozenset[str]
    kind: str = "case-management"
    practice_ods: str | None = None
    user: str | None = None


def key_id(secret: str) -> str:
    # A digest, never the key: safe to put in every token header.
    return "hs-" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def signing_keys(settings: Settings) -> dict[str, str]:
    keys = [settings.secret_key, *settings.previous_secret_keys]
    return {key_id(secret): secret for secret in keys}


def issue_token(
    settings: Settings,
    *,
    client_id: str,
    organisation_ods: str,
    scopes: tuple[str, ...] = ALL_SCOPES,
    ttl: int | None = None,
    kind: str = "case-management",
    practice_ods: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": client_id,
        "org": organisation_ods,
        "kind": kind,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + (ttl if ttl is not None else settings.token_ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    if practice_ods is not None:
        claims["practice"] = practice_ods
    return jwt.encode(
        claims, settings.secret_key, algorithm="HS256", headers={"kid": key_id(settings.secret_key)}
    )


def read_token(settings: Settings, token: str) -> Principal:
    """The principal a token names, or Unauthorized saying what is wrong with it."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("the bearer token is not valid: not a JWT") from exc
    if header.get("alg") != "HS256":
        raise Unauthorized("the bearer token is not valid: not signed by Liaison")
    secret = signing_keys(settings).get(str(header.get("kid")))
    if secret is None:
        raise Unauthorized("the bearer token is not valid: it is signed by an unknown key")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "org", "scope"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the bearer token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the bearer token is not valid: {exc}") from exc
    practice = claims.get("practice")
    return Principal(
        client_id=str(claims["sub"]),
        organisation_ods=str(claims["org"]),
        scopes=frozenset(str(claims["scope"]).split()),
        kind=str(claims.get("kind", "case-management")),
        practice_ods=str(practice) if practice else None,
    )


def _registered(request: Request, client_id: str) -> ApiClient | None:
    # Its own short transaction, read fresh on every request: revocation is immediate.
    with UnitOfWork(request.app.state.session_factory) as uow:
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
