"""Which hosts an outgoing webhook may reach: public internet addresses only.

A tenant chooses its webhook URL, so without this a tenant could make Liaison's worker
POST to its own network (Redis on 127.0.0.1:6379, the cloud metadata service on
169.254.169.254) and learn from the notification's status whether something answered
(server-side request forgery, OWASP API Security Top 10 2023, API7).

Pure: it classifies host spellings and addresses; resolving a name is the caller's
(adapters.pinned_transport at connect time, the subscription API when subscribing).

Every spelling an HTTP client or the C library would accept for an IPv4 address is read as
that address, following the WHATWG URL Standard's IPv4 parser (section 3.5, "IPv4 parser"),
which is also what `inet_aton` accepts: one to four parts, each decimal, `0x` hexadecimal or
`0`-prefixed octal, the last part filling the remaining bytes, an optional trailing dot.
So `0x7f000001`, `2130706433`, `127.1`, `0177.0.0.1` and `0` are all addresses, not names.
A host whose last label is numeric but is not a valid address is refused outright
(the WHATWG parser fails such hosts too).

Refused: loopback, private (RFC 1918, RFC 4193), link-local (RFC 3927, RFC 4291),
shared address space / CGNAT (RFC 6598), multicast, unspecified, IPv4-mapped and
IPv4-compatible IPv6 (RFC 4291 sections 2.5.5.2 and 2.5.5.1), IPv6 forms embedding a
refused IPv4 address (NAT64 RFC 6052, 6to4 RFC 3056, Teredo RFC 4380), anything else not
globally reachable (IANA special-purpose registries, via `ipaddress.is_global`), and names
under `localhost` (RFC 6761 section 6.3).
The only way through for an internal target is an operator's allow-list of `host` or
`host:port` entries.
"""

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}

_CGNAT: Final = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_PART: Final = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")
_PORT: Final = re.compile(r"^[0-9]{1,5}$")


class InvalidHost(ValueError):
    """A host that is neither a valid address nor a name (e.g. `1.2.3.999`)."""


def _ipv4_part(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        if not all(c in "01234567" for c in part):
            raise InvalidHost(f"{part!r} is not an octal number")
        return int(part, 8)
    return int(part)


def _ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address `host` spells, None for a name; InvalidHost when the host ends in a
    number but is no address."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]  # one trailing dot, as the WHATWG parser allows
    if not parts or not _NUMERIC_PART.match(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        raise InvalidHost(f"{host!r} is not a valid IPv4 address")
    numbers = [_ipv4_part(p) for p in parts]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise InvalidHost(f"{host!r} is not a valid IPv4 address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_address(host: str) -> IPAddress | None:
    """The address a URL host spells (brackets and IPv4 spellings understood), or None when
    the host is a name. Raises InvalidHost for a malformed numeric host or a zoned IPv6
    address (a zone names a local interface, never an internet host)."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        if "%" in text:
            raise InvalidHost(f"{host!r} is a scoped (zoned) IPv6 address")
        try:
            return ipaddress.IPv6Address(text)
        except ValueError as exc:
            raise InvalidHost(f"{host!r} is not a valid IPv6 address") from exc
    return _ipv4(text)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    return None


def _ipv4_refusal(address: ipaddress.IPv4Address) -> str | None:
    checks = (
        (address.is_unspecified or address in ipaddress.IPv4Network("0.0.0.0/8"), "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address in _CGNAT, "shared (CGNAT)"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
    )
    for refused, kind in checks:
        if refused:
            return kind
    return None if address.is_global else "not globally reachable"


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook must not be sent to `address` (e.g. "loopback"), None when it may."""
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_refusal(address)
    if address.ipv4_mapped is not None:
        return "IPv4-mapped"
    if int(address) >> 32 == 0 and int(address) > 1:
        return "IPv4-compatible"  # ::a.b.c.d, deprecated by RFC 4291 section 2.5.5.1
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local or address.is_site_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address in ipaddress.IPv6Network("fc00::/7"), "private"),
    )
    for refused, kind in checks:
        if refused:
            return kind
    embedded = _embedded_ipv4(address)
    if embedded is not None and _ipv4_refusal(embedded) is not None:
        return f"embeds {embedded} ({_ipv4_refusal(embedded)})"
    return None if address.is_global else "not globally reachable"


def normalised_host(host: str) -> str:
    """One spelling per host: an address in its canonical text, a name in lower case
    without its trailing dot."""
    address = parse_address(host)
    if address is not None:
        return str(address)
    return host.strip().rstrip(".").lower()


def host_refusal(host: str) -> str | None:
    """Why a URL host must not be used, judged from its spelling alone (a name still has to
    be resolved and its addresses checked)."""
    try:
        address = parse_address(host)
    except InvalidHost as exc:
        return str(exc)
    if address is not None:
        refusal = address_refusal(address)
        return f"{address} is a refused address ({refusal})" if refusal else None
    name = normalised_host(host)
    if not name:
        return "no host"
    if name == "localhost" or name.endswith(".localhost"):
        return f"{name} is a loopback name"
    return None


@dataclass(frozen=True)
class AllowedHosts:
    """The operator's exceptions: `host` (any port) or `host:port` (that port only)."""

    any_port: frozenset[str] = frozenset()
    with_port: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> "AllowedHosts":
        any_port: set[str] = set()
        with_port: set[tuple[str, int]] = set()
        for entry in entries:
            host, port = split_host_port(entry)
            if port is None:
                any_port.add(normalised_host(host))
            else:
                with_port.add((normalised_host(host), port))
        return cls(frozenset(any_port), frozenset(with_port))

    def allows(self, host: str, port: int) -> bool:
        try:
            name = normalised_host(host)
        except InvalidHost:
            return False
        return name in self.any_port or (name, port) in self.with_port


def split_host_port(entry: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> (host, port or None)."""
    text = entry.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed:
            raise ValueError(f"{entry!r}: unclosed [")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host or (port_text and not _PORT.match(port_text)):
        raise ValueError(f"{entry!r} is not `host` or `host:port`")
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{entry!r}: port out of range")
    parse_address(host)  # raises InvalidHost (a ValueError) for a malformed address
    return host, port


def url_refusal(
    *, scheme: str, host: str, port: int | None, has_userinfo: bool, allowed: AllowedHosts
) -> str | None:
    """Why a webhook URL must be refused from its parts alone, None when it may be used
    (a name must still resolve to permitted addresses, see `resolved_refusal`)."""
    if scheme.lower() not in ALLOWED_SCHEMES:
        return "must use http or https"
    if has_userinfo:
        return "must not contain a user name or password"
    effective_port = port or DEFAULT_PORTS[scheme.lower()]
    if allowed.allows(host, effective_port):
        return None
    refusal = host_refusal(host)
    return f"must be a public internet host: {refusal}" if refusal else None


def resolved_refusal(host: str, addresses: Iterable[IPAddress]) -> str | None:
    """Why a name whose addresses are `addresses` must be refused: any refused address
    refuses the name (one answer could be chosen by a rebinding DNS server)."""
    for address in addresses:
        refusal = address_refusal(address)
        if refusal:
            return f"must be a public internet host: {host} resolves to {address} ({refusal})"
    return None
