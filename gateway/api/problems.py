"""RFC 9457 problem+json for /v1 and /ops, OperationOutcome for /fhir; a body-size limit."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_profiles.systems import UKCORE_OPERATION_OUTCOME
from gateway.api.error_kinds import headers_for, status_for, title_for
from gateway.api.error_wording import fhir_issue_code, plain_message
from gateway.domain.errors import LiaisonError
from gateway.logging import get_logger

PROBLEM = "application/problem+json"
# How long a caller waits before asking again when the database could not be reached.
DATABASE_RETRY_AFTER_SECONDS = 5
_log = get_logger("liaison.api")


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`care_team[1].email`: list positions in brackets, as JSONPath and FHIRPath write them."""
    path = ""
    for part in loc:
        if part == "body":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    fhir: bool = False,
    issue_code: str | None = None,
) -> JSONResponse:
    if fhir:
        code = issue_code or fhir_issue_code(status)
        issues = [
            {
                "severity": "error",
                "code": code,
                "diagnostics": e["detail"],
                "expression": [e["field"]],
            }
            for e in (errors or [])
        ] or [{"severity": "error", "code": code, "diagnostics": detail}]
        return JSONResponse(
            {
                "resourceType": "OperationOutcome",
                "meta": {"profile": [UKCORE_OPERATION_OUTCOME]},
                "issue": issues,
            },
            status_code=status,
            media_type="application/fhir+json",
            headers=headers,
        )
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _refusal(error: LiaisonError, *, fhir: bool) -> JSONResponse:
    errors = [{"field": e.field, "detail": e.detail} for e in error.errors]
    return problem(
        status_for(error),
        title_for(error),
        error.detail,
        errors=errors or None,
        headers=headers_for(error),
        fhir=fhir,
        issue_code=error.issue_code,
    )


def refusal_problem(error: LiaisonError) -> JSONResponse:
    """A refusal as the JSON API answers it: problem+json (RFC 9457)."""
    return _refusal(error, fhir=False)


def refusal_outcome(error: LiaisonError) -> JSONResponse:
    """A refusal as the FHIR API answers it: an OperationOutcome whose issues name each
    element at fault."""
    return _refusal(error, fhir=True)


def _is_fhir(request: Request) -> bool:
    return request.url.path.startswith("/fhir")


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for error in exc.errors():
            field = _field_path(error.get("loc", ()))
            message = plain_message(error)
            if error.get("type") == "json_invalid":
                field = "body"
            errors.append({"field": field, "detail": f"{field}: {message}"})
        # Every field the errors list names is named in the detail too.
        summary = "; ".join(e["detail"] for e in errors[:20])
        if len(errors) > 20:
            summary += f"; and {len(errors) - 20} more (see errors)"
        return problem(422, "Invalid request", summary, errors=errors, fhir=_is_fhir(request))

    @app.exception_handler(LiaisonError)
    async def refused(request: Request, exc: LiaisonError) -> JSONResponse:
        return refusal_outcome(exc) if _is_fhir(request) else refusal_problem(exc)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database is down, unreachable or every pooled connection is busy: the request
        # did nothing that lasted (its transaction is rolled back), and the caller may try
        # again. Logged by class only: a driver's message can name the host or the query.
        _log.warning("database unavailable", error=type(exc).__name__)
        return problem(
            503,
            "Service unavailable",
            "Liaison could not reach its database in time; try again shortly (a submission "
            "sent again with the same Idempotency-Key is not made twice)",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            fhir=_is_fhir(request),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
            fhir=_is_fhir(request),
        )


class BodySizeLimit:
    """Refuses bodies over `max_bytes` with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413, "Payload too large", f"the request body exceeds {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
