"""GovUkNotifyChannel (the official client) against the local Notify v2 sink over HTTP."""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from adapters.errors import PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.govuk_notify import GovUkNotifyChannel
from adapters.notification import OutgoingMessage
from adapters.standins.notify_sink import create_notify_sink_app, make_api_key
from tests.conftest import refusing_port
from tests.peers.servers import serve_in_thread

SERVICE_ID = "5b0cf1d4-6f3f-4a4e-9f0c-2f5f2d1b8a10"
SECRET = "9a1c3f59-1c1e-4a0e-8f53-0b6f5e7c2d44"
SMS_TEMPLATE = "d1f0e2c4-7b2a-4c8e-9a41-5f3b6c7d8e90"
EMAIL_TEMPLATE = "0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
TEMPLATES = {"ready-to-collect": SMS_TEMPLATE}


@dataclass
class Sink:
    url: str

    def messages(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_sink/messages").json())

    def fail_next(self, status_code: int, count: int = 1) -> None:
        httpx.post(
            f"{self.url}/_sink/fail-next", json={"status_code": status_code, "count": count}
        ).raise_for_status()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    # Bound on port 0 and read back: no window for another process to take the port.
    with serve_in_thread(create_notify_sink_app(service_id=SERVICE_ID, api_secret=SECRET)) as url:
        yield url


@pytest.fixture
def sink(server: str) -> Sink:
    httpx.post(f"{server}/_sink/reset").raise_for_status()
    return Sink(server)


def channel(
    sink: Sink, kind: str = "sms", secret: str = SECRET, **kwargs: Any
) -> GovUkNotifyChannel:
    return GovUkNotifyChannel(
        api_key=make_api_key(SERVICE_ID, secret),
        base_url=sink.url,
        templates=kwargs.pop(
            "templates", TEMPLATES if kind == "sms" else {"ready-to-collect": EMAIL_TEMPLATE}
        ),
        kind=kind,  # type: ignore[arg-type]
        **kwargs,
    )


def message(**overrides: Any) -> OutgoingMessage:
    fields: dict[str, Any] = {
        "reference": "ntf-0001",
        "kind": "ready-to-collect",
        "to": "07700 900123",
        "subject": "Prescription ready",
        "body": "Your prescription is ready to collect at your pharmacy.",
        "personalisation": {"first_name": "Sam", "pharmacy": "High Street Pharmacy"},
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)


def token(*, secret: str = SECRET, iat: float | None = None) -> str:
    claims = {"iss": SERVICE_ID, "iat": int(time.time() if iat is None else iat)}
    return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


def test_sms_is_recorded_with_template_personalisation_and_reference(sink: Sink) -> None:
    sms = channel(sink)

    notification_id = sms.send(message())

    [record] = sink.messages()
    assert record["id"] == notification_id
    uuid.UUID(notification_id)
    assert record["type"] == "sms"
    assert record["to"] == "07700 900123"
    assert record["template_id"] == SMS_TEMPLATE
    assert record["personalisation"] == {"first_name": "Sam", "pharmacy": "High Street Pharmacy"}
    assert record["reference"] == "ntf-0001"
    assert sms.name == "sms"


def test_email_without_personalisation_sends_subject_and_body(sink: Sink) -> None:
    email = channel(sink, kind="email")

    notification_id = email.send(message(to="service.user@example.org", personalisation={}))

    [record] = sink.messages()
    assert record["id"] == notification_id
    assert record["type"] == "email"
    assert record["to"] == "service.user@example.org"
    assert record["template_id"] == EMAIL_TEMPLATE
    assert record["personalisation"] == {
        "subject": "Prescription ready",
        "body": "Your prescription is ready to collect at your pharmacy.",
    }
    assert record["reference"] == "ntf-0001"
    assert email.name == "email-notify"


def test_a_resend_with_the_same_reference_is_not_sent_twice(sink: Sink) -> None:
    sms = channel(sink)

    first = sms.send(message(reference="ntf-0002"))
    again = sms.send(message(reference="ntf-0002"))
    other = sms.send(message(reference="ntf-0003"))

    assert first == again != other
    assert [r["reference"] for r in sink.messages()] == ["ntf-0002", "ntf-0003"]


def test_without_dedupe_every_send_reaches_notify(sink: Sink) -> None:
    sms = channel(sink, dedupe_by_reference=False)

    sms.send(message(reference="ntf-0004"))
    sms.send(message(reference="ntf-0004"))

    assert [r["reference"] for r in sink.messages()] == ["ntf-0004", "ntf-0004"]


def test_wrong_secret_is_a_permanent_403(sink: Sink) -> None:
    sms = channel(sink, secret=str(uuid.uuid4()))

    with pytest.raises(PermanentAdapterError) as caught:
        sms.send(message())

    assert caught.value.status_code == 403
    assert "Invalid token: API key not found" in str(caught.value)
    assert sink.messages() == []


def test_missing_template_for_the_kind_is_permanent(sink: Sink) -> None:
    sms = channel(sink)

    with pytest.raises(PermanentAdapterError, match="'appointment-needed'"):
        sms.send(message(kind="appointment-needed"))

    assert sink.messages() == []


def test_invalid_phone_number_is_permanent_and_the_error_omits_the_number(sink: Sink) -> None:
    sms = channel(sink)

    with pytest.raises(PermanentAdapterError) as caught:
        sms.send(message(to="020 7946 0000"))

    assert caught.value.status_code == 400
    assert "phone_number Not a UK mobile number" in str(caught.value)
    assert "7946" not in str(caught.value)
    assert sink.messages() == []


def test_rate_limit_is_rate_limited_with_a_minute_to_wait(sink: Sink) -> None:
    sink.fail_next(429)
    sms = channel(sink, dedupe_by_reference=False)

    with pytest.raises(RateLimited) as caught:
        sms.send(message())

    assert caught.value.retry_after == 60
    assert sink.messages() == []
    # The injected failure is used up: the next send goes through.
    sms.send(message())
    assert len(sink.messages()) == 1


def test_server_error_is_transient_not_permanent(sink: Sink) -> None:
    sink.fail_next(500)
    sms = channel(sink, dedupe_by_reference=False)

    with pytest.raises(TransientAdapterError) as caught:
        sms.send(message())

    assert not isinstance(caught.value, RateLimited)
    assert caught.value.status_code == 500


def test_notify_unreachable_is_transient() -> None:
    with refusing_port() as port:
        sms = channel(Sink(f"http://127.0.0.1:{port}"), timeout=2)

        with pytest.raises(TransientAdapterError, match="unreachable"):
            sms.send(message())


def test_sink_rejects_a_token_issued_60_seconds_ago(sink: Sink) -> None:
    body = {"phone_number": "07700900123", "template_id": SMS_TEMPLATE}

    stale = httpx.post(
        f"{sink.url}/v2/notifications/sms",
        json=body,
        headers={"Authorization": f"Bearer {token(iat=time.time() - 60)}"},
    )
    fresh = httpx.post(
        f"{sink.url}/v2/notifications/sms",
        json=body,
        headers={"Authorization": f"Bearer {token()}"},
    )

    assert stale.status_code == 403
    assert stale.json() == {
        "status_code": 403,
        "errors": [
            {
                "error": "AuthError",
                "message": "Error: Your system clock must be accurate to within 30 seconds",
            }
        ],
    }
    assert fresh.status_code == 201
    assert [r["template_id"] for r in sink.messages()] == [SMS_TEMPLATE]


def test_sink_requires_a_bearer_token_and_validates_the_body(sink: Sink) -> None:
    missing = httpx.post(f"{sink.url}/v2/notifications/sms", json={})
    invalid = httpx.post(
        f"{sink.url}/v2/notifications/email",
        json={"email_address": "not-an-address", "template_id": EMAIL_TEMPLATE},
        headers={"Authorization": f"Bearer {token()}"},
    )

    assert missing.status_code == 401
    assert missing.json()["errors"][0]["error"] == "AuthError"
    assert invalid.status_code == 400
    assert invalid.json() == {
        "status_code": 400,
        "errors": [
            {"error": "ValidationError", "message": "email_address Not a valid email address"}
        ],
    }
    assert sink.messages() == []


def test_sink_answers_in_notifys_response_shape(sink: Sink) -> None:
    response = httpx.post(
        f"{sink.url}/v2/notifications/email",
        json={
            "email_address": "service.user@example.org",
            "template_id": EMAIL_TEMPLATE,
            "personalisation": {"subject": "Hello", "body": "Text"},
            "reference": "ntf-0005",
        },
        headers={"Authorization": f"Bearer {token()}"},
    )

    assert response.status_code == 201
    data = response.json()
    assert data["reference"] == "ntf-0005"
    assert data["content"]["subject"] == "Hello"
    assert data["content"]["body"] == "Text"
    assert "from_email" in data["content"]
    assert data["uri"] == f"{sink.url}/v2/notifications/{data['id']}"
    assert data["template"]["id"] == EMAIL_TEMPLATE
    assert data["template"]["version"] == 1
