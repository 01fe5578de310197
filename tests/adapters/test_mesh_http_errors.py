"""What a MESH answer's HTTP status means, through the mailbox's calls: the mapping and the
Retry-After reading every adapter shares (RFC 9110 §10.2.3, delay-seconds or an HTTP-date)."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from adapters.errors import PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.mesh import DEFAULT_RETRY_AFTER, MeshMailbox, MeshMailboxConfig


class _Refusing:
    """A mesh-client stand-in whose inbox list answers with one HTTP status."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.response = requests.Response()
        self.response.status_code = status
        self.response.headers.update(headers)

    def list_messages(self, **_: Any) -> list[str]:
        raise requests.HTTPError(response=self.response)


def _mailbox(status: int, headers: dict[str, str] | None = None) -> MeshMailbox:
    mailbox = MeshMailbox(
        MeshMailboxConfig(
            url="https://mesh.invalid", mailbox="X26ABC1", password="p", shared_key="k"
        )
    )
    mailbox._local.client = _Refusing(status, headers or {})
    return mailbox


def test_a_mesh_429_waits_as_its_retry_after_seconds_say() -> None:
    with pytest.raises(RateLimited) as limited:
        _mailbox(429, {"Retry-After": "120"}).inbox()
    assert limited.value.retry_after == 120
    assert limited.value.status_code == 429


def test_a_mesh_429_understands_a_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(minutes=10)
    with pytest.raises(RateLimited) as limited:
        _mailbox(429, {"Retry-After": format_datetime(when, usegmt=True)}).inbox()
    # The wait runs to the date given, not to MESH's default.
    assert 590 <= limited.value.retry_after <= 600


def test_a_mesh_429_without_a_usable_retry_after_waits_the_mesh_default() -> None:
    for headers in ({}, {"Retry-After": "soon"}):
        with pytest.raises(RateLimited) as limited:
            _mailbox(429, headers).inbox()
        assert limited.value.retry_after == DEFAULT_RETRY_AFTER


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (408, TransientAdapterError),
        (500, TransientAdapterError),
        (503, TransientAdapterError),
        (400, PermanentAdapterError),
        (403, PermanentAdapterError),
        (404, PermanentAdapterError),
    ],
)
def test_a_mesh_status_means_what_it_means_for_every_adapter(
    status: int, error: type[Exception]
) -> None:
    with pytest.raises(error) as raised:
        _mailbox(status).inbox()
    assert type(raised.value) is error
    assert "MESH inbox list answered" in str(raised.value)
