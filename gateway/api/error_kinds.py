"""The one place a use case's refusal (gateway.domain.errors) becomes an HTTP status, a
title and headers. The JSON API's problem+json, the FHIR API's OperationOutcome, the console
and the practice inbox pages all answer a refusal with the status this table gives its kind.
"""

from typing import Final

from gateway.domain.errors import ErrorKind, LiaisonError

# Status and default title (the status's reason phrase, RFC 9110 section 15).
HTTP_FOR_KIND: Final[dict[ErrorKind, tuple[int, str]]] = {
    ErrorKind.NOT_FOUND: (404, "Not found"),
    ErrorKind.CONFLICT: (409, "Conflict"),
    ErrorKind.INVALID: (422, "Invalid request"),
    ErrorKind.UNAVAILABLE: (503, "Service unavailable"),
    ErrorKind.UNAUTHORISED: (401, "Unauthorized"),
    ErrorKind.FORBIDDEN: (403, "Forbidden"),
}


def status_for(error: LiaisonError) -> int:
    return HTTP_FOR_KIND[error.kind][0]


def title_for(error: LiaisonError) -> str:
    return error.title or HTTP_FOR_KIND[error.kind][1]


def headers_for(error: LiaisonError) -> dict[str, str] | None:
    headers: dict[str, str] = {}
    if error.kind is ErrorKind.UNAUTHORISED:
        # A 401 names the scheme that would succeed (RFC 9110 section 11.6.1, RFC 6750).
        headers["WWW-Authenticate"] = "Bearer"
    if error.retry_after:
        # Whole seconds, as Retry-After's delay-seconds form is (RFC 9110 section 10.2.3).
        headers["Retry-After"] = str(int(error.retry_after))
    return headers or None
