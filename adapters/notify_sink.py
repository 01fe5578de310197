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

Run: `python -m adapters.notify_sink --port 8026 --service-id <uuid> --secret <uuid>`;
the API key for the client is `make_api_key(service_id, secret)`.
"""

import argparse
import json
import re
import threading
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import phonenumbers
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# Notify's documented clock-skew allowance for the JWT `iat` claim.
IAT_TOLERANCE_SECONDS = 30
SMS_SENDER = "GOVUK"
EMAIL_SENDER = "liaison.dev@notifications.service.gov.uk"

_UUID_LENGTH = 36
_SMS_FIELDS = frozenset(
    {
        "phone_number",
        "template_id",
        "personalisation",
        "reference",
        "sms_sender_id",
        "scheduled_for",
    }
)
_EMAIL_FIELDS = frozenset(
    {
        "email_address",
        "template_id",
        "personalisation",
        "reference",
        "email_reply_to_id",
        "one_click_unsubscribe_url",
        "scheduled_for",
        "sanitise_content_for",
    }
)
_PHONE_CHARS = re.compile(r"^[0-9\s()+\-.]+$")
_EMAIL = re.compile(r"^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$")


def make_api_key(service_id: str, secret: str, name: str = "liaison-dev") -> str:
    """A Notify API key: `{name}-{service_id}-{secret}`. The client takes the last 36
    characters as the signing secret and the 36 before the separator as the service id,
    so both must be canonical UUID strings."""
    for label, value in (("service_id", service_id), ("secret", secret)):
        if len(value) != _UUID_LENGTH or str(uuid.UUID(value)) != value.lower():
            raise ValueError(f"{label} must be a canonical 36-character UUID")
    return f"{name}-{service_id}-{secret}"


class NotifyError(Exception):
    """An error answered in Notify's v2 shape."""

    def __init__(self, status_code: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse(
            status_code=self.status_code,
            content={
                "status_code": self.status_code,
                "errors": [{"error": self.error, "message": self.message}],
            },
        )


class NotifySinkStore:
    """What the sink has received; shared by request handlers, so guarded by a lock."""

    def __init__(self, spool: str | None = None) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._failures: list[int] = []
        self._spool = Path(spool) if spool else None

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._messages.append(record)
            if self._spool is not None:
                with self._spool.open("a", encoding="utf-8") as spool:
                    spool.write(json.dumps(record, sort_keys=True) + "\n")

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._messages]

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._failures.clear()

    def fail_next(self, status_code: int, count: int) -> None:
        with self._lock:
            self._failures.extend([status_code] * count)

    def take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None


def check_token(authorization: str | None, *, service_id: str, api_secret: str) -> None:
    """Raise NotifyError unless `authorization` carries a token Notify would accept.

    Follows Notify's order of checks so each failure gets the message Notify gives.
    """
    if not authorization:
        raise NotifyError(401, "AuthError", "Unauthorized: authentication token must be provided")
    if authorization[:7].title() != "Bearer ":
        raise NotifyError(
            401, "AuthError", "Unauthorized: authentication bearer scheme must be used"
        )
    token = authorization[7:]
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise NotifyError(
            403, "AuthError", "Invalid token: signature, api token is not valid"
        ) from exc
    issuer = claims.get("iss")
    if issuer is None:
        raise NotifyError(403, "AuthError", "Invalid token: iss field not provided")
    try:
        issuer_id = uuid.UUID(str(issuer))
    except ValueError as exc:
        raise NotifyError(
            403, "AuthError", "Invalid token: service id is not the right data type"
        ) from exc
    if issuer_id != uuid.UUID(service_id):
        raise NotifyError(403, "AuthError", "Invalid token: service not found")
    if header.get("alg") != "HS256":
        raise NotifyError(403, "AuthError", "Invalid token: algorithm used is not HS256")
    try:
        # Time claims are checked below with Notify's symmetric 30 s rule, not PyJWT's.
        jwt.decode(
            token,
            key=api_secret,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidTokenError as exc:
        raise NotifyError(403, "AuthError", "Invalid token: API key not found") from exc
    issued_at = claims.get("iat")
    if issued_at is None:
        raise NotifyError(403, "AuthError", "Invalid token: iat field not provided")
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        raise NotifyError(403, "AuthError", "Invalid token: iat field is not a number")
    if abs(datetime.now(UTC).timestamp() - issued_at) > IAT_TOLERANCE_SECONDS:
        raise NotifyError(
            403, "AuthError", "Error: Your system clock must be accurate to within 30 seconds"
        )


def _phone_number_problem(number: str) -> str | None:
    """Notify's rule: a UK mobile (07…, +447…), or a possible international number."""
    if not _PHONE_CHARS.match(number):
        return "Must not contain letters or symbols"
    digits = re.sub(r"[^0-9]", "", number)
    international = number.lstrip().startswith("+") or digits.startswith("00")
    if international:
        digits = digits[2:] if digits.startswith("00") else digits
        if not digits.startswith("44"):
            try:
                parsed = phonenumbers.parse("+" + digits, None)
            except phonenumbers.NumberParseException:
                return "Not a valid country prefix"
            return None if phonenumbers.is_possible_number(parsed) else "Not a valid phone number"
        digits = "0" + digits[2:]
    elif digits.startswith("44"):
        digits = "0" + digits[2:]
    if not digits.startswith("07"):
        return "Not a UK mobile number"
    if len(digits) > 11:
        return "Too many digits"
    if len(digits) < 11:
        return "Not enough digits"
    return None


def _validate(
    payload: Any, *, kind: str, known_templates: Collection[str] | None
) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise NotifyError(400, "ValidationError", "Request body must be a JSON object")
    allowed = _SMS_FIELDS if kind == "sms" else _EMAIL_FIELDS
    address_field = "phone_number" if kind == "sms" else "email_address"
    unexpected = sorted(set(payload) - allowed)
    if unexpected:
        raise NotifyError(
            400,
            "ValidationError",
            f"Additional properties are not allowed ({', '.join(unexpected)} was unexpected)",
        )
    for required in (address_field, "template_id"):
        if required not in payload:
            raise NotifyError(400, "ValidationError", f"{required} is a required property")
    address = payload[address_field]
    if not isinstance(address, str):
        raise NotifyError(400, "ValidationError", f"{address_field} is not of type string")
    if kind == "sms":
        problem = _phone_number_problem(address)
        if problem:
            raise NotifyError(400, "ValidationError", f"phone_number {problem}")
    elif not _EMAIL.match(address.strip()):
        raise NotifyError(400, "ValidationError", "email_address Not a valid email address")
    template_id = payload["template_id"]
    try:
        uuid.UUID(str(template_id))
    except ValueError as exc:
        raise NotifyError(400, "ValidationError", "template_id is not a valid UUID") from exc
    personalisation = payload.get("personalisation", {})
    if not isinstance(personalisation, dict):
        raise NotifyError(400, "ValidationError", "personalisation is not of type object")
    reference = payload.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise NotifyError(400, "ValidationError", "reference is not of type string")
    if known_templates is not None and template_id not in known_templates:
        raise NotifyError(400, "BadRequestError", "Template not found")
    return payload


def _render(personalisation: dict[str, Any]) -> tuple[str, str]:
    """(subject, body). The sink has no template text, so it shows the personalisation."""
    body = personalisation.get("body")
    if not isinstance(body, str):
        body = "\n".join(f"{key}: {value}" for key, value in sorted(personalisation.items()))
    subject = personalisation.get("subject")
    return (subject if isinstance(subject, str) else "Notification"), body


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

    def uri(request: Request, path: str) -> str:
        return str(request.base_url).rstrip("/") + path

    def public_view(request: Request, record: dict[str, Any]) -> dict[str, Any]:
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
                "uri": uri(request, f"/v2/template/{record['template_id']}"),
            },
            "body": record["body"],
            "subject": record["subject"] if record["type"] == "email" else None,
            "created_at": record["received_at"],
            "created_by_name": None,
            "sent_at": record["received_at"],
            "completed_at": record["received_at"],
            "scheduled_for": None,
        }

    async def send(request: Request, kind: str) -> JSONResponse:
        authorise(request)
        injected = store.take_failure()
        if injected is not None:
            raise _injected_error(injected)
        try:
            payload = json.loads(await request.body())
        except ValueError as exc:
            raise NotifyError(400, "BadRequestError", "Invalid JSON supplied in POST data") from exc
        data = _validate(payload, kind=kind, known_templates=known_templates)
        personalisation = data.get("personalisation") or {}
        subject, body = _render(personalisation)
        notification_id = str(uuid.uuid4())
        record: dict[str, Any] = {
            "id": notification_id,
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
        store.add(record)
        content: dict[str, Any] = {"body": body}
        if kind == "sms":
            content["from_number"] = SMS_SENDER
        else:
            content.update(subject=subject, from_email=EMAIL_SENDER, one_click_unsubscribe_url=None)
        return JSONResponse(
            status_code=201,
            content={
                "id": notification_id,
                "reference": record["reference"],
                "content": content,
                "uri": uri(request, f"/v2/notifications/{notification_id}"),
                "template": {
                    "id": record["template_id"],
                    "version": 1,
                    "uri": uri(
                        request, f"/services/{service_id}/templates/{record['template_id']}"
                    ),
                },
                "scheduled_for": None,
            },
        )

    @app.post("/v2/notifications/sms", status_code=201)
    async def send_sms(request: Request) -> JSONResponse:
        return await send(request, "sms")

    @app.post("/v2/notifications/email", status_code=201)
    async def send_email(request: Request) -> JSONResponse:
        return await send(request, "email")

    @app.get("/v2/notifications/{notification_id}")
    def get_notification(request: Request, notification_id: str) -> dict[str, Any]:
        authorise(request)
        for record in store.messages():
            if record["id"] == notification_id:
                return public_view(request, record)
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
            public_view(request, record)
            for record in reversed(store.messages())  # Notify lists newest first
            if (reference is None or record["reference"] == reference)
            and (template_type is None or record["type"] == template_type)
            and (status is None or record["status"] == status)
        ]
        return {
            "notifications": matches,
            "links": {"current": str(request.url), "next": None},
        }

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

    return app


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A local GOV.UK Notify v2 API sink.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--service-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--spool", default=None)
    args = parser.parse_args()
    main(args.host, args.port, args.service_id, args.secret, args.spool)
