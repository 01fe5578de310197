"""The signed webhook channel: what a case-management app receives and how failures are
classified. (End to end against a real HTTP receiver: tests/workers/test_notifying.py.)"""

import hashlib
import hmac

import httpx
import pytest

from adapters.errors import PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.notification import OutgoingMessage
from adapters.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    sign,
    verify,
)

SECRET = "0123456789abcdef0123456789abcdef"
NOW = 1_790_000_000


def _message() -> OutgoingMessage:
    return OutgoingMessage(
        reference="note-1",
        kind="ready-to-collect",
        to="https://app.example/hooks?token=abc",
        subject="ready-to-collect",
        body='{"event":"ready-to-collect"}',
    )


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1790000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, body) == f"v1={expected}"


def test_receivers_accept_genuine_fresh_requests_only() -> None:
    body = b'{"a":1}'
    headers = {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: sign(SECRET, NOW, body)}
    assert verify(SECRET, headers, body, now=NOW + 10)
    assert not verify(SECRET, headers, b'{"a":2}', now=NOW)  # body changed
    assert not verify("another-secret-0123456789abcdef01", headers, body, now=NOW)
    assert not verify(SECRET, headers, body, now=NOW + 301)  # replayed later
    assert not verify(SECRET, {SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, body, now=NOW)


def test_each_post_is_signed_and_carries_a_stable_event_id() -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503 if len(seen) == 1 else 204)

    channel = WebhookChannel(
        secret=SECRET, transport=httpx.MockTransport(app), clock=lambda: NOW, retry_max_wait=0.01
    )
    assert channel.send(_message()) == "note-1"
    assert len(seen) == 2  # one short in-process retry absorbed the 503
    for request in seen:
        assert request.headers[EVENT_ID_HEADER] == "note-1"
        assert verify(SECRET, dict(request.headers), request.content, now=NOW)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TransientAdapterError),
        (408, TransientAdapterError),
        (429, RateLimited),
        (400, PermanentAdapterError),
        (410, PermanentAdapterError),
        (302, PermanentAdapterError),  # redirects are not followed: the signature is per URL
    ],
)
def test_failures_say_whether_to_retry(status: int, error: type[Exception]) -> None:
    channel = WebhookChannel(
        secret=SECRET,
        transport=httpx.MockTransport(
            lambda _: httpx.Response(status, headers={"Retry-After": "9"})
        ),
        retry_attempts=1,
    )
    with pytest.raises(error) as raised:
        channel.send(_message())
    assert "token=abc" not in str(raised.value)  # errors name the host only
    assert "app.example" in str(raised.value)
    if status == 429:
        assert isinstance(raised.value, RateLimited)
        assert raised.value.retry_after == 9


def test_an_unreachable_app_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    channel = WebhookChannel(secret=SECRET, transport=httpx.MockTransport(refuse), retry_attempts=1)
    with pytest.raises(TransientAdapterError):
        channel.send(_message())
