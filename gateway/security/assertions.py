"""Use case: exchange a signed client assertion (RFC 7523 `private_key_jwt`) for a grant.

Checks, in order, each refusal naming what was wrong:
1. the JWT header names an accepted algorithm (RS256/384/512, ES256/384) and a `kid`;
2. `iss` = `sub` = a registered, active client;
3. the `kid` is in the client's registered JWKS (rotation: any listed key works);
4. the signature verifies with that key, `aud` is Liaison's token endpoint, `exp` has not
   passed and is at most five minutes away, `iat` is not in the future;
5. the `jti` has never been exchanged before (a unique row decides, so concurrent replays
   cannot both win);
6. the scopes asked for are among those registered.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from gateway.security.clients import ASSERTION_ALGORITHMS
from gateway.settings import Settings
from gateway.store.models import ApiClient
from gateway.store.unit_of_work import UnitOfWork

MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
CLOCK_SKEW = timedelta(seconds=30)


class AssertionRefused(Exception):
    """An OAuth 2.0 error response (RFC 6749 section 5.2)."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class Grant:
    client_id: str
    kind: str
    organisation_ods: str
    scopes: tuple[str, ...]


def _invalid_client(description: str) -> AssertionRefused:
    return AssertionRefused("invalid_client", description, status=401)


def _client(uow: UnitOfWork, client_id: str) -> ApiClient:
    client = uow.clients.get(client_id)
    if client is None:
        raise _invalid_client(f"client_assertion: iss {client_id!r} is not a registered client")
    if client.status != "active":
        raise _invalid_client(f"client_assertion: client {client_id!r} has been revoked")
    return client


def _key_for(client: ApiClient, kid: str, alg: str) -> jwt.PyJWK:
    for jwk in client.jwks.get("keys", []):
        if jwk.get("kid") == kid:
            if jwk.get("alg", alg) != alg:
                raise _invalid_client(
                    f"client_assertion: key {kid!r} is registered for {jwk['alg']}, not {alg}"
                )
            return jwt.PyJWK(jwk, algorithm=alg)
    raise _invalid_client(
        f"client_assertion: kid {kid!r} is not in the JWKS registered for {client.client_id!r}"
    )


def _scopes(client: ApiClient, requested: str | None) -> tuple[str, ...]:
    registered = client.scopes.split()
    if not requested:
        return tuple(registered)
    wanted = requested.split()
    missing = [s for s in wanted if s not in registered]
    if missing:
        raise AssertionRefused(
            "invalid_scope",
            f"scope: {' '.join(missing)} not granted to {client.client_id!r}; "
            f"registered: {' '.join(registered)}",
        )
    return tuple(dict.fromkeys(wanted))


def exchange(
    uow: UnitOfWork,
    settings: Settings,
    *,
    assertion: str,
    requested_scopes: str | None,
    now: datetime,
) -> Grant:
    """Verify the assertion and record its `jti` (the caller commits)."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AssertionRefused(
            "invalid_request", "client_assertion: not a signed JWT (header.payload.signature)"
        ) from exc
    alg = header.get("alg")
    if alg not in ASSERTION_ALGORITHMS:
        raise _invalid_client(
            f"client_assertion: alg {alg!r} is not accepted; use one of "
            f"{', '.join(ASSERTION_ALGORITHMS)}"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _invalid_client("client_assertion: the JWT header needs a kid")
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise _invalid_client("client_assertion: iss (the client id) is missing")
    client = _client(uow, issuer)
    key = _key_for(client, kid, alg)
    try:
        claims = jwt.decode(
            assertion,
            key=key,
            algorithms=[alg],
            audience=settings.api.token_endpoint_url,
            issuer=client.client_id,
            leeway=CLOCK_SKEW,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _invalid_client("client_assertion: exp has passed") from exc
    except jwt.InvalidAudienceError as exc:
        raise _invalid_client(
            f"client_assertion: aud must be {settings.api.token_endpoint_url}"
        ) from exc
    except jwt.InvalidSignatureError as exc:
        raise _invalid_client(f"client_assertion: signature does not verify with {kid!r}") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _invalid_client(f"client_assertion: claim {exc.claim} is required") from exc
    except jwt.ImmatureSignatureError as exc:
        raise _invalid_client("client_assertion: iat or nbf is in the future") from exc
    except jwt.PyJWTError as exc:
        raise _invalid_client(f"client_assertion: {exc}") from exc
    if claims["sub"] != client.client_id:
        raise _invalid_client("client_assertion: sub must equal iss (the client id)")
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    if expires > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW:
        raise _invalid_client("client_assertion: exp is more than 5 minutes in the future")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 1 <= len(jti) <= 200:
        raise _invalid_client("client_assertion: jti must be a string of 1 to 200 characters")
    scopes = _scopes(client, requested_scopes)
    uow.clients.prune_jtis(before=now - CLOCK_SKEW)
    if not uow.clients.use_jti(
        client_id=client.client_id, jti=jti, expires_at=expires + CLOCK_SKEW
    ):
        raise _invalid_client("client_assertion: jti has already been used (replay refused)")
    return Grant(
        client_id=client.client_id,
        kind=client.kind,
        organisation_ods=client.organisation_ods,
        scopes=scopes,
    )
