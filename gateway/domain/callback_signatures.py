"""Signatures on GP push callbacks (POST /v1/gp-callbacks/{ods_code}).

The GP system sends `X-Liaison-Timestamp: <unix seconds>` and
`X-Liaison-Signature: sha256=<hex>`, where the hex is HMAC-SHA256, keyed with the practice's
callback secret, over the ASCII timestamp, a full stop, and the raw request body. Binding the
timestamp stops an old callback being replayed later; binding the practice's own secret stops
one practice speaking for another. Pure: the caller supplies the clock and the secret.
"""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

TIMESTAMP_HEADER: Final = "X-Liaison-Timestamp"
SIGNATURE_HEADER: Final = "X-Liaison-Signature"
SCHEME: Final = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The header value a sender puts in X-Liaison-Signature."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SCHEME + digest.hexdigest()


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str | None = None


def verify(
    *,
    secret: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: float,
) -> Verdict:
    if not signature:
        return Verdict(False, f"the {SIGNATURE_HEADER} header is missing")
    if not timestamp:
        return Verdict(False, f"the {TIMESTAMP_HEADER} header is missing")
    try:
        sent_at = int(timestamp)
    except ValueError:
        return Verdict(False, f"{TIMESTAMP_HEADER} must be Unix time in seconds")
    if abs(now - sent_at) > tolerance_seconds:
        return Verdict(False, f"{TIMESTAMP_HEADER} is outside the allowed window")
    # An unknown practice, or one with no secret, fails exactly as a wrong signature does
    # (same work, same answer), so the endpoint does not tell which practices exist.
    expected = sign(secret or "", timestamp, body)
    matches = hmac.compare_digest(expected.encode(), signature.strip().encode())
    if secret is None or not matches:
        return Verdict(False, "the signature does not match this practice's callback secret")
    return Verdict(True)
