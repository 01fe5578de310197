"""POST /v1/gp-callbacks/{ods_code}: GP systems that can call back push Task updates here.

The body is a FHIR Task, or a Bundle of Tasks, signed with the practice's callback secret
(gateway.domain.callback_signatures). A missing or wrong signature, a timestamp outside the
window, or a secret that is not this practice's gets 401 and changes nothing. A valid body is
applied in one transaction, through the same lifecycle as polls and the practice inbox.
"""

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from fhir_profiles.task_status import StatusReport, interpret_task
from gateway.api.problems import problem
from gateway.domain import callback_signatures as signatures
from gateway.practice_directory import ODS_PATTERN
from gateway.services.gp_replies import apply_reports
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork

router = APIRouter(prefix="/v1", tags=["gp-callbacks"])


class CallbackResult(BaseModel):
    applied: int
    unchanged: int
    ignored: list[str]  # recommendation ids that are not this practice's
    unrecognised: int  # Tasks that carry no Liaison recommendation or status
    # Pharmacy (Prescription Status Update) Tasks that no single open request matched.
    unmatched: int = 0


class _BadBody(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def _tasks(body: bytes) -> list[dict[str, Any]]:
    try:
        resource: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise _BadBody("body", "the body is not valid JSON") from error
    if not isinstance(resource, dict):
        raise _BadBody("body", "the body must be a FHIR Task or Bundle")
    if resource.get("resourceType") == "Task":
        return [resource]
    if resource.get("resourceType") != "Bundle":
        raise _BadBody("resourceType", "resourceType must be Task or Bundle")
    entries = resource.get("entry")
    if not isinstance(entries, list) or not entries:
        raise _BadBody("entry", "the Bundle has no entries")
    tasks = []
    for index, entry in enumerate(entries):
        task = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(task, dict) or task.get("resourceType") != "Task":
            raise _BadBody(f"entry.{index}.resource", "every Bundle entry must be a Task")
        tasks.append(task)
    return tasks


_SIGNED_BODY = {
    "required": True,
    "description": (
        "A FHIR Task, or a Bundle of Tasks. Sign it: X-Liaison-Timestamp is Unix time in "
        "seconds; X-Liaison-Signature is `sha256=` + hex HMAC-SHA256 with the practice's "
        "callback secret over `<timestamp>.<raw body>`."
    ),
    "content": {"application/fhir+json": {"schema": {"type": "object"}}},
}


@router.post(
    "/gp-callbacks/{ods_code}",
    response_model=CallbackResult,
    summary="A GP system pushes Task updates (HMAC-signed)",
    responses={
        401: {"description": "Signature missing, wrong, stale, or not this practice's"},
        422: {"description": "The body is not a Task or a Bundle of Tasks"},
    },
    openapi_extra={
        "requestBody": _SIGNED_BODY,
        "parameters": [
            {
                "name": signatures.TIMESTAMP_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            },
            {
                "name": signatures.SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            },
        ],
    },
)
async def gp_callback(request: Request, ods_code: str) -> JSONResponse:
    # The path is checked with the signature, not before it: a caller that cannot sign
    # learns nothing of what a valid request looks like (always 401).
    if not re.fullmatch(ODS_PATTERN, ods_code):
        return problem(401, "Unauthorized", "not signed with this practice's callback secret")
    body = await request.body()
    settings: Settings = request.app.state.settings
    return await run_in_threadpool(
        _handle,
        request.app.state.session_factory,
        settings,
        ods_code,
        request.headers.get(signatures.TIMESTAMP_HEADER),
        request.headers.get(signatures.SIGNATURE_HEADER),
        body,
    )


def _handle(
    session_factory: Any,
    settings: Settings,
    ods_code: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
) -> JSONResponse:
    with UnitOfWork(session_factory) as uow:
        practice = uow.practices.get(ods_code)
        reference = (practice.config or {}).get("callback_secret_env") if practice else None
        verdict = signatures.verify(
            secret=settings.practice_secret(reference),
            timestamp=timestamp,
            signature=signature,
            body=body,
            now=time.time(),
            tolerance_seconds=settings.security.callback_tolerance_seconds,
        )
        if not verdict.valid:
            return problem(401, "Unauthorized", verdict.reason or "not signed")
        try:
            tasks = _tasks(body)
        except _BadBody as bad:
            return problem(
                422,
                "Invalid request",
                bad.detail,
                errors=[{"field": bad.field, "detail": f"{bad.field}: {bad.detail}"}],
            )
        reports: list[StatusReport] = []
        unrecognised = 0
        for task in tasks:
            report = interpret_task(task)
            if report is None:
                unrecognised += 1
            else:
                reports.append(report)
        outcome = apply_reports(uow, ods_code, reports, source="callback", now=datetime.now(UTC))
        uow.commit()
    result = CallbackResult(
        applied=outcome.applied,
        unchanged=outcome.unchanged,
        ignored=outcome.ignored,
        unrecognised=unrecognised,
        unmatched=outcome.unmatched,
    )
    return JSONResponse(result.model_dump())
