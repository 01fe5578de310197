"""Signed webhooks to a case-management app: one POST per event.

Each request carries
- `Liaison-Timestamp`: Unix seconds when it was signed;
- `Liaison-Signature`: `v1=` + hex HMAC-SHA256, keyed by the subscription's secret, over
  `<timestamp>.<body>` (the exact bytes sent);
- `Liaison-Event-Id`: the notification id, the same on every retry, so the receiver can
  drop a repeat.

A receiver checks the signature with `verify` and refuses timestamps older than a few
minutes, which stops a captured request being replayed later. Short retries happen here
(Tenacity); longer ones are the caller's, like deliveries.

Requests go only to public internet addresses, checked on every request and sent to the
address that was checked (adapters.pinned_transport); `allowed_hosts` lists the operator's
exceptions. Redirects are never followed.
"""

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Final

import httpx

from adapters.address_policy import AllowedHosts
from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.http_status import error_for_status, is_success
from adapters.notification import OutgoingMessage
from adapters.pinned_transport import PinnedTransport, RefusedDestination, Resolver, system_resolver
from adapters.retry import short_retry
from adapters.tls import shared_tls_context

TIMESTAMP_HEADER: Final = "Liaison-Timestamp"
SIGNATURE_HEADER: Final = "Liaison-Signature"
EVENT_ID_HEADER: Final = "Liaison-Event-Id"
DEFAULT_TOLERANCE_SECONDS: Final = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether a received webhook is genuine and fresh (for receivers, and Liaison's tests)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not stamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(stamp), body), given)


class WebhookChannel:
    """A `NotificationChannel` posting `message.body` (JSON) to the URL in `message.to`."""

    name = "webhook"

    def __init__(
        self,
        *,
        secret: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        retry_attempts: int = 3,
        retry_max_wait: float = 2.0,
        allowed_hosts: AllowedHosts = AllowedHosts(),
        resolve: Resolver = system_resolver,
    ) -> None:
        """`transport` is the one that connects (tests pass a double); every request
        reaches it through the address check."""
        if not secret:
            raise ValueError("a webhook needs a signing secret")
        self._secret = secret
        self._clock = clock
        self._retry_attempts = retry_attempts
        self._retry_max_wait = retry_max_wait
        inner = transport or httpx.HTTPTransport(verify=shared_tls_context())
        self._http = httpx.Client(
            timeout=timeout,
            transport=PinnedTransport(allowed=allowed_hosts, inner=inner, resolve=resolve),
            follow_redirects=False,
            # Proxies from the environment are not used: they would connect, not us.
            trust_env=False,
        )

    def send(self, message: OutgoingMessage) -> str:
        body = message.body.encode()
        policy = short_retry(attempts=self._retry_attempts, max_wait=self._retry_max_wait)
        policy(self._post, message.to, body, message.reference)
        return message.reference

    def _post(self, url: str, body: bytes, reference: str) -> None:
        # Signed afresh on each try, so a retry late in the window is still within tolerance.
        stamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self._secret, stamp, body),
            EVENT_ID_HEADER: reference,
            "User-Agent": "Liaison-Webhook/1",
        }
        # The URL is the app's own and not personal data, but its query could hold a token:
        # errors name the host only.
        host = httpx.URL(url).host
        try:
            response = self._http.post(url, content=body, headers=headers)
        except RefusedDestination as exc:
            # The same answer whatever listens there, so the status reveals nothing.
            raise PermanentAdapterError(f"webhook to {host} refused: {exc}") from exc
        except httpx.TransportError as exc:
            raise TransientAdapterError(f"webhook to {host}: {type(exc).__name__}") from exc
        status = response.status_code
        if is_success(status):
            return
        text = f"webhook to {host} answered {status}"
        # Redirects are not followed (the signature covers one endpoint): a 3xx is permanent.
        raise error_for_status(status, text, retry_after=response.headers.get("Retry-After"))

    def close(self) -> None:
        self._http.close()
