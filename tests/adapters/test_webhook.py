"""The signed webhook channel: what a case-management app receives and how failures are
classified. (End to end against a real HTTP receiver: tests/workers/test_notifying.py.)"""

import hashlib
import hmac
import ipaddress

import httpx
import pytest

from adapters.address_policy import AllowedHosts, IPAddress
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
PUBLIC = ipaddress.ip_address("93.184.215.14")


def public_dns(host: str, port: int) -> list[IPAddress]:
    """A resolver that answers every name with one public address."""
    return [PUBLIC]


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
        secret=SECRET,
        transport=httpx.MockTransport(app),
        clock=lambda: NOW,
        retry_max_wait=0.01,
        resolve=public_dns,
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
        resolve=public_dns,
    )
    with pytest.raises(error) as raised:
        channel.send(_message())
    assert "token=abc" not in str(raised.value)  # errors name the host only
    assert "app.example" in str(raised.value)
    if status == 429:
        assert isinstance(raised.value, RateLimited)
        assert raised.value.retry_after == 9


@pytest.mark.parametrize(
    ("header", "wait"),
    [("Thu, 01 Jan 2015 00:00:00 GMT", 0), ("soon", 30)],
)
def test_a_rate_limit_reads_an_http_date_and_waits_the_default_when_unreadable(
    header: str, wait: float
) -> None:
    channel = WebhookChannel(
        secret=SECRET,
        transport=httpx.MockTransport(
            lambda _: httpx.Response(429, headers={"Retry-After": header})
        ),
        retry_attempts=1,
        resolve=public_dns,
    )
    with pytest.raises(RateLimited) as raised:
        channel.send(_message())
    assert raised.value.retry_after == wait


def test_an_unreachable_app_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    channel = WebhookChannel(
        secret=SECRET, transport=httpx.MockTransport(refuse), retry_attempts=1, resolve=public_dns
    )
    with pytest.raises(TransientAdapterError):
        channel.send(_message())


def _to(url: str) -> OutgoingMessage:
    return OutgoingMessage(reference="note-2", kind="delivered", to=url, subject="s", body="{}")


def test_each_request_goes_to_the_address_checked_with_the_original_host_name() -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    channel = WebhookChannel(
        secret=SECRET, transport=httpx.MockTransport(app), retry_attempts=1, resolve=public_dns
    )
    channel.send(_to("https://app.example:8443/hooks?token=abc"))

    [request] = seen
    assert request.url.host == str(PUBLIC)  # connected to the pinned address
    assert request.url.port == 8443
    assert request.url.raw_path == b"/hooks?token=abc"
    assert request.headers["Host"] == "app.example:8443"
    assert request.extensions["sni_hostname"] == "app.example"  # TLS checks the name


@pytest.mark.parametrize(
    "answer", ["127.0.0.1", "169.254.169.254", "10.0.0.5", "::1", "::ffff:127.0.0.1"]
)
def test_a_name_that_now_resolves_inside_is_refused_before_connecting(answer: str) -> None:
    """DNS rebinding: public when subscribed, internal when sent."""
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    channel = WebhookChannel(
        secret=SECRET,
        transport=httpx.MockTransport(app),
        retry_attempts=3,
        resolve=lambda _host, _port: [PUBLIC, ipaddress.ip_address(answer)],
    )
    with pytest.raises(PermanentAdapterError) as raised:
        channel.send(_to("https://app.example/hooks"))
    assert seen == []
    assert "app.example" in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://2130706433:6379/",
        "http://0x7f000001:6379/",
        "http://127.1:6379/",
        "http://0:6379/",
        "http://[::1]:6379/",
        "http://[::ffff:127.0.0.1]:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost.:6379/",
        "https://user:pass@app.example/hooks",
    ],
)
def test_internal_urls_are_refused_at_connect_time(url: str) -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    channel = WebhookChannel(
        secret=SECRET, transport=httpx.MockTransport(app), retry_attempts=1, resolve=public_dns
    )
    with pytest.raises(PermanentAdapterError):
        channel.send(_to(url))
    assert seen == []


def test_the_operators_allowed_hosts_are_reached_as_named() -> None:
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    channel = WebhookChannel(
        secret=SECRET,
        transport=httpx.MockTransport(app),
        retry_attempts=1,
        allowed_hosts=AllowedHosts.parse(["127.0.0.1:9000"]),
    )
    channel.send(_to("http://127.0.0.1:9000/hooks"))
    assert [str(r.url) for r in seen] == ["http://127.0.0.1:9000/hooks"]
    with pytest.raises(PermanentAdapterError):
        channel.send(_to("http://127.0.0.1:9001/hooks"))  # another port is not allowed
    assert len(seen) == 1
