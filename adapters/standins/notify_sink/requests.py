"""What the Notify stand-in accepts: API keys and their JWTs, and the payloads of the v2
send endpoints, checked as GOV.UK Notify's API reference documents them
(https://docs.notifications.service.gov.uk/rest-api.html)."""

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
from fastapi.responses import JSONResponse

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


def validate_send(
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


def render(personalisation: dict[str, Any]) -> tuple[str, str]:
    """(subject, body). The sink has no template text, so it shows the personalisation."""
    body = personalisation.get("body")
    if not isinstance(body, str):
        body = "\n".join(f"{key}: {value}" for key, value in sorted(personalisation.items()))
    subject = personalisation.get("subject")
    return (subject if isinstance(subject, str) else "Notification"), body
