"""A local stand-in for GOV.UK Notify that speaks its documented v2 REST API.

The live Notify service cannot be reached from development machines or CI, so the
official `notifications-python-client` is pointed at this server instead
(`base_url="http://127.0.0.1:<port>"`). It authenticates requests the way Notify
does (HS256 JWT, `iss` = service id, `iat` within 30 seconds), validates the
payload, answers with Notify's response and error shapes, and records each
notification so tests can read what was sent.

Note: the client joins paths that start with "/" onto `base_url`, so any path in
`base_url` is dropped; the sink must be mounted at the root of its host.

Endpoints for tests (no auth: the sink is a test peer, never exposed):
- `GET /_sink/messages`: every notification received, oldest first.
- `POST /_sink/reset`: forget them and any injected failures.
- `POST /_sink/fail-next` `{"status_code": 429, "count": 1}`: answer the next
  `count` authenticated sends with that status, to exercise rate limits and outages.

Run: `python -m adapters.standins.notify_sink --port 8026 --service-id <uuid> --secret <uuid>`;
the API key for the client is `make_api_key(service_id, secret)`.
"""

import argparse
import json
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.standins.notify_sink.requests import (
    EMAIL_SENDER,
    SMS_SENDER,
    NotifyError,
    NotifySinkStore,
    check_token,
    render,
    validate_send,
)


def create_notify_sink_app(
    *,
    service_id: str,
    api_secret: str,
    spool: str | None = None,
    known_templates: Collection[str] | None = None,
) -> FastAPI:
    """The sink as an ASGI app. `known_templates`, when given, makes unknown template
    ids fail as Notify does ("Template not found"); otherwise any UUID is accepted."""
    uuid.UUID(service_id)  # fail at start-up, not on the first request
    store = NotifySinkStore(spool)
    app = FastAPI(title="GOV.UK Notify sink", docs_url=None, redoc_url=None)
    app.state.store = store

    @app.exception_handler(NotifyError)
    async def notify_error(_: Request, exc: NotifyError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = "NoResultFound" if exc.status_code == 404 else "BadRequestError"
        return NotifyError(exc.status_code, name, str(exc.detail)).response()

    def authorise(request: Request) -> None:
        check_token(
            request.headers.get("Authorization"), service_id=service_id, api_secret=api_secret
        )

    _add_send_routes(app, store, authorise, service_id, known_templates)
    _add_read_routes(app, store, authorise)
    _add_sink_controls(app, store)
    return app


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _public_view(base: str, record: dict[str, Any]) -> dict[str, Any]:
    """A recorded notification as `GET /v2/notifications/{id}` shows it."""
    return {
        "id": record["id"],
        "reference": record["reference"],
        "email_address": record["to"] if record["type"] == "email" else None,
        "phone_number": record["to"] if record["type"] == "sms" else None,
        "type": record["type"],
        "status": record["status"],
        "template": {
            "id": record["template_id"],
            "version": 1,
            "uri": f"{base}/v2/template/{record['template_id']}",
        },
        "body": record["body"],
        "subject": record["subject"] if record["type"] == "email" else None,
        "created_at": record["received_at"],
        "created_by_name": None,
        "sent_at": record["received_at"],
        "completed_at": record["received_at"],
        "scheduled_for": None,
    }


def _new_record(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the sink keeps of an accepted send request."""
    personalisation = data.get("personalisation") or {}
    subject, body = render(personalisation)
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "to": data["phone_number" if kind == "sms" else "email_address"],
        "template_id": str(data["template_id"]),
        "personalisation": personalisation,
        "reference": data.get("reference"),
        "received_at": datetime.now(UTC).isoformat(),
        "subject": subject,
        "body": body,
        "status": "delivered",
    }


def _send_response(base: str, service_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """The 201 body of `POST /v2/notifications/{sms,email}` (Notify's API reference)."""
    content: dict[str, Any] = {"body": record["body"]}
    if record["type"] == "sms":
        content["from_number"] = SMS_SENDER
    else:
        content.update(
            subject=record["subject"], from_email=EMAIL_SENDER, one_click_unsubscribe_url=None
        )
    template_id = record["template_id"]
    return {
        "id": record["id"],
        "reference": record["reference"],
        "content": content,
        "uri": f"{base}/v2/notifications/{record['id']}",
        "template": {
            "id": template_id,
            "version": 1,
            "uri": f"{base}/services/{service_id}/templates/{template_id}",
        },
        "scheduled_for": None,
    }


def _add_send_routes(
    app: FastAPI,
    store: NotifySinkStore,
    authorise: Callable[[Request], None],
    service_id: str,
    known_templates: Collection[str] | None,
) -> None:
    async def send(request: Request, kind: str) -> JSONResponse:
        authorise(request)
        injected = store.take_failure()
        if injected is not None:
            raise _injected_error(injected)
        try:
            payload = json.loads(await request.body())
        except ValueError as exc:
            raise NotifyError(400, "BadRequestError", "Invalid JSON supplied in POST data") from exc
        data = validate_send(payload, kind=kind, known_templates=known_templates)
        record = _new_record(kind, data)
        store.add(record)
        return JSONResponse(
            status_code=201, content=_send_response(_base(request), service_id, record)
        )

    @app.post("/v2/notifications/sms", status_code=201)
    async def send_sms(request: Request) -> JSONResponse:
        return await send(request, "sms")

    @app.post("/v2/notifications/email", status_code=201)
    async def send_email(request: Request) -> JSONResponse:
        return await send(request, "email")


def _add_read_routes(
    app: FastAPI, store: NotifySinkStore, authorise: Callable[[Request], None]
) -> None:
    @app.get("/v2/notifications/{notification_id}")
    def get_notification(request: Request, notification_id: str) -> dict[str, Any]:
        authorise(request)
        for record in store.messages():
            if record["id"] == notification_id:
                return _public_view(_base(request), record)
        raise NotifyError(404, "NoResultFound", "No result found")

    @app.get("/v2/notifications")
    def list_notifications(
        request: Request,
        reference: str | None = None,
        template_type: str | None = None,
        status: str | None = None,
    ) -> dict[str, Any]:
        authorise(request)
        matches = [
            _public_view(_base(request), record)
            for record in reversed(store.messages())  # Notify lists newest first
            if (reference is None or record["reference"] == reference)
            and (template_type is None or record["type"] == template_type)
            and (status is None or record["status"] == status)
        ]
        return {
            "notifications": matches,
            "links": {"current": str(request.url), "next": None},
        }


def _add_sink_controls(app: FastAPI, store: NotifySinkStore) -> None:
    """Test and development controls, outside Notify's own API."""

    @app.get("/_sink/messages")
    def sink_messages() -> list[dict[str, Any]]:
        return store.messages()

    @app.post("/_sink/reset", status_code=204)
    def sink_reset() -> None:
        store.reset()

    @app.post("/_sink/fail-next", status_code=204)
    async def sink_fail_next(request: Request) -> None:
        body = await request.json()
        status_code = int(body["status_code"])
        if not 400 <= status_code < 600:
            raise NotifyError(400, "ValidationError", "status_code must be 4xx or 5xx")
        store.fail_next(status_code, int(body.get("count", 1)))


def _injected_error(status_code: int) -> NotifyError:
    if status_code == 429:
        return NotifyError(
            429,
            "RateLimitError",
            "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds",
        )
    if status_code >= 500:
        return NotifyError(status_code, "Exception", "Internal server error")
    return NotifyError(status_code, "BadRequestError", "Injected failure")


def main(host: str, port: int, service_id: str, secret: str, spool: str | None) -> None:
    """Serve the sink until interrupted."""
    app = create_notify_sink_app(service_id=service_id, api_secret=secret, spool=spool)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def run_from_command_line() -> None:
    parser = argparse.ArgumentParser(description="A local GOV.UK Notify v2 API sink.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--service-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--spool", default=None)
    args = parser.parse_args()
    main(args.host, args.port, args.service_id, args.secret, args.spool)
