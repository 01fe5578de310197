"""Minimum bearer-token check: HS256 tokens issued by `liaison token`.

The full client-credentials model (signed-JWT assertions, tenants, revocation) replaces
this; routes already depend on `Principal`, so they will not change.
"""

import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.settings import Settings

ALL_SCOPES = ("recommendations", "fhir", "ops")
_bearer = HTTPBearer(auto_error=False)


class Unauthorized(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Forbidden(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    client_id: str
    organisation_ods: str
    scopes: frozenset[str]


def issue_token(
    settings: Settings,
    *,
    client_id: str,
    organisation_ods: str,
    scopes: tuple[str, ...] = ALL_SCOPES,
    ttl: int | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "sub": client_id,
        "org": organisation_ods,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + (ttl if ttl is not None else settings.token_ttl_seconds),
        "iss": "liaison",
    }
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def read_token(settings: Settings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=["HS256"],
            issuer="liaison",
            options={"require": ["exp", "sub", "org", "scope"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the bearer token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("the bearer token is not valid") from exc
    return Principal(
        str(claims["sub"]), str(claims["org"]), frozenset(str(claims["scope"]).split())
    )


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    settings: Settings = request.app.state.settings
    return read_token(settings, credentials.credentials)


def require_scope(scope: str) -> object:
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if scope not in principal.scopes:
            raise Forbidden(f"this token lacks the {scope!r} scope")
        return principal

    return Depends(check)
