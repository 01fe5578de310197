"""An httpx transport that connects only to permitted addresses, resolved once per request.

Checking a webhook URL when it is subscribed is not enough: its name may later resolve
somewhere else (DNS rebinding), so the check is repeated on every request, and the request
is then sent to the very address that was checked. The transport resolves the host,
refuses the request if any answer is refused (adapters.address_policy), and hands the
inner transport a request whose URL carries the checked address, while the `Host` header
keeps the original name and TLS is negotiated for the original name too (httpcore's
`sni_hostname` request extension sets the server name, and certificate verification checks
the certificate against it), so HTTPS works as if the name had been used.
"""

import ipaddress
import socket
from collections.abc import Callable

import httpx

from adapters.address_policy import (
    DEFAULT_PORTS,
    AllowedHosts,
    IPAddress,
    parse_address,
    resolved_refusal,
    url_refusal,
)

Resolver = Callable[[str, int], list[IPAddress]]


class RefusedDestination(httpx.TransportError):
    """The request's host is, or resolves to, an address webhooks may not reach."""


class UnresolvableHost(httpx.ConnectError):
    """The host has no address now (a transient failure: DNS may answer later)."""


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (the C library's getaddrinfo)."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(f"{host} does not resolve") from exc
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        text = str(sockaddr[0]).split("%")[0]
        address = ipaddress.ip_address(text)
        if address not in found:
            found.append(address)
    return found


def destination(url: httpx.URL, allowed: AllowedHosts, resolve: Resolver) -> IPAddress | None:
    """The address a request to `url` must connect to, None when the operator allows the
    host as it is. Raises RefusedDestination, or UnresolvableHost when a name has no
    address now."""
    port = url.port or DEFAULT_PORTS.get(url.scheme, 0)
    refusal = url_refusal(
        scheme=url.scheme,
        host=url.host,
        port=url.port,
        has_userinfo=bool(url.userinfo),
        allowed=allowed,
    )
    if refusal:
        raise RefusedDestination(refusal)
    if allowed.allows(url.host, port):
        return None
    literal = parse_address(url.host)  # url_refusal has refused malformed ones
    if literal is not None:
        return literal
    addresses = resolve(url.host, port)
    if not addresses:
        raise UnresolvableHost(f"{url.host} does not resolve")
    refusal = resolved_refusal(url.host, addresses)
    if refusal:
        raise RefusedDestination(refusal)
    return addresses[0]


def pinned(request: httpx.Request, address: IPAddress) -> httpx.Request:
    """`request`, to be sent to `address`: the URL carries the address, while the `Host`
    header and the TLS server name (checked against the certificate) keep the name."""
    url = request.url
    # An address spelled in the URL is named in its canonical form.
    server_name = url.host if parse_address(url.host) is None else str(address)
    return httpx.Request(
        request.method,
        url.copy_with(host=str(address)),
        headers=request.headers,  # `Host` still names the original host
        stream=request.stream,
        extensions={**request.extensions, "sni_hostname": server_name},
    )


class PinnedTransport(httpx.BaseTransport):
    def __init__(
        self,
        *,
        allowed: AllowedHosts,
        inner: httpx.BaseTransport,
        resolve: Resolver = system_resolver,
    ) -> None:
        self._allowed = allowed
        self._inner = inner
        self._resolve = resolve

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        try:
            address = destination(url, self._allowed, self._resolve)
        except RefusedDestination as exc:
            raise RefusedDestination(str(exc), request=request) from exc
        except UnresolvableHost as exc:
            raise UnresolvableHost(str(exc), request=request) from exc
        if address is None:
            return self._inner.handle_request(request)  # the operator's own exception
        return self._inner.handle_request(pinned(request, address))

    def close(self) -> None:
        self._inner.close()
