"""Liaison's own bearer access tokens: HS256 JWTs signed with `LIAISON_SECURITY__SECRET_KEY`, the
`kid` header naming the key so a rotation (`LIAISON_SECURITY__PREVIOUS_SECRET_KEYS`) keeps tokens
already issued valid. Signing and reading live here, outside the API, so the CLI
(`liaison token`, the demo) can mint a token without importing the web application."""

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.domain.errors import ErrorKind, LiaisonError
from gateway.settings import Settings

ALL_SCOPES = ("recommendations", "fhir", "ops")
ISSUER = "liaison"
AUDIENCE = "liaison-api"


class Unauthorized(LiaisonError):
    """No valid credentials: the caller is not known (answered with a Bearer challenge)."""

    kind = ErrorKind.UNAUTHORISED


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
    keys = [settings.security.secret_key, *settings.security.previous_secret_keys]
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
        "exp": now + (ttl if ttl is not None else settings.security.token_ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    if practice_ods is not None:
        claims["practice"] = practice_ods
    return jwt.encode(
        claims,
        settings.security.secret_key,
        algorithm="HS256",
        headers={"kid": key_id(settings.security.secret_key)},
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
