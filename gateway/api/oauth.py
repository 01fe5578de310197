"""POST /oauth2/token: OAuth 2.0 client credentials with a signed JWT client assertion.

The request is a form (RFC 6749 section 4.4, RFC 7523 section 2.2):

    grant_type=client_credentials
    client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
    client_assertion=<JWT signed with the client's registered key>
    scope=<optional: space-separated subset of the registered scopes>

The answer is a short-lived bearer access token; errors are OAuth error objects whose
`error_description` names the parameter or claim at fault.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.api.auth import RateLimited
from gateway.api.dependencies import SettingsDep, UnitOfWorkDep
from gateway.security.assertions import AssertionRefused, exchange
from gateway.security.context import Actor, note_actor
from gateway.security.tokens import issue_token

router = APIRouter(tags=["oauth"])
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class OAuthError(BaseModel):
    error: str
    error_description: str


def _refusal(error: str, description: str, status: int = 400) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


@router.post(
    "/oauth2/token",
    response_model=TokenResponse,
    responses={
        400: {"model": OAuthError, "description": "malformed request or scope not granted"},
        401: {"model": OAuthError, "description": "the client assertion was refused"},
        429: {"description": "too many token requests from this address"},
    },
    summary="Exchange a signed client assertion for an access token",
)
def token(
    request: Request,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    grant_type: Annotated[str | None, Form(max_length=100)] = None,
    client_assertion_type: Annotated[str | None, Form(max_length=200)] = None,
    client_assertion: Annotated[str | None, Form(max_length=8000)] = None,
    scope: Annotated[str | None, Form(max_length=200)] = None,
) -> JSONResponse:
    client = request.client
    try:
        request.app.state.token_rate_limiter.check(f"token:{client.host if client else '-'}")
    except RateLimited as exc:
        response = _refusal("slow_down", exc.detail, 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if grant_type != "client_credentials":
        return _refusal(
            "unsupported_grant_type" if grant_type else "invalid_request",
            "grant_type: must be client_credentials",
        )
    if client_assertion_type != JWT_BEARER:
        return _refusal("invalid_request", f"client_assertion_type: must be {JWT_BEARER}")
    if not client_assertion:
        return _refusal("invalid_request", "client_assertion: required (a signed JWT)")
    try:
        grant = exchange(
            uow,
            settings,
            assertion=client_assertion,
            requested_scopes=scope,
            now=datetime.now(UTC),
        )
    except AssertionRefused as exc:
        return _refusal(exc.error, exc.description, exc.status)
    uow.commit()
    note_actor(
        Actor(client_id=grant.client_id, organisation_ods=grant.organisation_ods, kind=grant.kind)
    )
    access_token = issue_token(
        settings,
        client_id=grant.client_id,
        organisation_ods=grant.organisation_ods,
        scopes=grant.scopes,
        ttl=settings.security.access_token_ttl_seconds,
        kind=grant.kind,
        practice_ods=grant.organisation_ods if grant.kind == "gp-practice" else None,
    )
    body = TokenResponse(
        access_token=access_token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
        expires_in=settings.security.access_token_ttl_seconds,
        scope=" ".join(grant.scopes),
    )
    return JSONResponse(body.model_dump(), headers=_NO_STORE)
