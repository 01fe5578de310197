"""Which secrets a practice's directory entry may name, and where its requests may go.

A directory entry names each credential by reference, as the name of an environment
variable. Liaison's own settings are environment variables too, so an unrestricted name
would let whoever edits the directory send, say, `LIAISON_SECURITY__SECRET_KEY` (which signs every
access token) to an endpoint of their choosing. A reference may therefore only name a
variable in a namespace reserved for practice credentials, which no setting uses.

An endpoint (a FHIR base URL, a SMART token URL) must be an absolute http(s) URL without
user information (RFC 3986 section 3.2.1 deprecates passwords in URLs); in production it
must be https, and an allow-list of hosts, when one is configured, limits it further.
Pure: no I/O.
"""

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

PRACTICE_SECRET_PREFIX = "LIAISON_PRACTICE_SECRET_"  # noqa: S105 -- a name prefix, no secret
_SECRET_REFERENCE = re.compile(rf"^{PRACTICE_SECRET_PREFIX}[A-Z0-9_]{{1,100}}$")


def is_practice_secret_reference(name: str) -> bool:
    """Whether `name` is a variable in the practice-credential namespace."""
    return bool(_SECRET_REFERENCE.match(name))


def secret_reference_problem(name: str) -> str | None:
    """Why `name` may not be used as a practice credential reference (None: it may)."""
    if is_practice_secret_reference(name):
        return None
    return (
        f"must be {PRACTICE_SECRET_PREFIX}<NAME> (capitals, digits, underscores): practice "
        "credentials are read only from that reserved namespace"
    )


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """`host` is listed, or falls under a listed `*.suffix` (a subdomain, not the suffix)."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        pattern = entry.strip().lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def endpoint_problem(url: str, *, require_https: bool, allowed_hosts: Sequence[str]) -> str | None:
    """Why requests may not be sent to `url` (None: they may)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute http or https URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password (name a credential instead)"
    if require_https and parts.scheme != "https":
        return "must be https in production"
    if allowed_hosts and not host_allowed(host, allowed_hosts):
        return f"host {host} is not in LIAISON_DELIVERY__GP_ALLOWED_HOSTS"
    return None
