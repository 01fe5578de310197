"""Every link Liaison hands out (Location headers, `self` and `next` links, a Bundle entry's
`fullUrl`, the CapabilityStatement's address) is built from LIAISON_API__PUBLIC_BASE_URL, never
from the request's Host header: the client supplies that header (RFC 9110 section 7.2), so
`Host: evil.example` would otherwise send the next request, and its bearer token, there."""

from fastapi import Request
from starlette.datastructures import URL

from gateway.settings import Settings


def public_base(request: Request) -> str:
    """LIAISON_API__PUBLIC_BASE_URL without its trailing slash."""
    settings: Settings = request.app.state.settings
    return settings.api.public_base_url.rstrip("/")


def public_url(request: Request, path: str) -> str:
    """An absolute link to `path` (which starts with a slash) on Liaison's public address."""
    return public_base(request) + path


def public_request_url(request: Request) -> URL:
    """The URL of this request (its path and query) on Liaison's public address."""
    query = request.url.query
    return URL(public_url(request, request.url.path) + (f"?{query}" if query else ""))


def next_page_url(
    request: Request,
    *,
    offset: int,
    limit: int,
    total: int,
    names: tuple[str, str] = ("offset", "limit"),
) -> str | None:
    """This request's link to the page after `offset`, or None on the last page. `names` are
    the query parameters holding the offset and the page size (FHIR's are `_offset` and
    `_count`)."""
    if offset + limit >= total:
        return None
    offset_name, limit_name = names
    following = {offset_name: offset + limit, limit_name: limit}
    return str(public_request_url(request).include_query_params(**following))
