"""The Organisation Data Service through its ORD API: is a practice open, what is it called,
what is its telephone number, and who succeeded it if it closed.

`GET {base}/organisations/{ods_code}` (base e.g. https://directory.spineservices.nhs.uk/ORD/2-0-0;
NHS England, "ODS ORD API endpoints", organisation endpoint) answers
`{"Organisation": {"Name", "Status": "Active" | "Inactive", "Contacts": {"Contact": [{"type":
"tel", "value"}]}, "Succs": {"Succ": [{"Type": "Successor" | "Predecessor", "Target": {"OrgId":
{"extension": <ODS code>}}, "Date": [{"Type": "Legal", "Start"}]}]}, ...}}`, 404 for a code
ODS does not know. The ORD API is open data: no authentication. Its guidance asks callers to
stay under 5 requests a second, so answers are cached for `cache_seconds` (a practice's state
changes at most daily: ODS publishes daily).
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx

from adapters.errors import TransientAdapterError
from adapters.http_status import error_for_status
from adapters.retry import short_retry
from adapters.tls import shared_tls_context

DEFAULT_CACHE_SECONDS: Final = 6 * 3600.0


@dataclass(frozen=True)
class OdsOrganisation:
    ods_code: str
    name: str | None
    active: bool
    telephone: str | None
    successor: str | None  # the ODS code that legally succeeded a closed organisation


def read_organisation(ods_code: str, body: dict[str, Any]) -> OdsOrganisation:
    """Interpret an ORD organisation record. Pure."""
    record = body.get("Organisation")
    if not isinstance(record, dict):
        raise TransientAdapterError("ODS answered without an Organisation record")
    contacts = (record.get("Contacts") or {}).get("Contact") or []
    telephone = next(
        (
            str(c["value"])
            for c in contacts
            if isinstance(c, dict) and c.get("type") == "tel" and c.get("value")
        ),
        None,
    )
    name = record.get("Name")
    return OdsOrganisation(
        ods_code=ods_code,
        name=str(name) if name else None,
        active=record.get("Status") == "Active",
        telephone=telephone,
        successor=_successor(record),
    )


def _successor(record: dict[str, Any]) -> str | None:
    successions = (record.get("Succs") or {}).get("Succ") or []
    found: list[tuple[str, str]] = []
    for succ in successions:
        if not isinstance(succ, dict) or succ.get("Type") != "Successor":
            continue
        code = ((succ.get("Target") or {}).get("OrgId") or {}).get("extension")
        if not isinstance(code, str) or not code:
            continue
        starts = [str(d.get("Start") or "") for d in succ.get("Date") or [] if isinstance(d, dict)]
        found.append((max(starts, default=""), code))
    # A practice that merged more than once: the latest legal succession is the current one.
    return max(found)[1] if found else None


@dataclass(frozen=True)
class _Cached:
    value: OdsOrganisation | None
    until: float


class OdsClient:
    """Organisation lookups with a time-limited cache shared by the process's threads."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        retry_attempts: int = 3,
        retry_max_wait: float = 2.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._retry_attempts = retry_attempts
        self._retry_max_wait = retry_max_wait
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}
        self._http = httpx.Client(
            headers={"Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            verify=shared_tls_context(),
        )
        self.calls = 0  # requests made, for tests and metrics

    def organisation(self, ods_code: str) -> OdsOrganisation | None:
        """The organisation, or None when ODS has no such code. Raises `AdapterError`s."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(ods_code)
        if cached is not None and cached.until > now:
            return cached.value
        policy = short_retry(attempts=self._retry_attempts, max_wait=self._retry_max_wait)
        value: OdsOrganisation | None = policy(self._get, ods_code)
        with self._lock:
            self._cache[ods_code] = _Cached(value, now + self._cache_seconds)
        return value

    def _get(self, ods_code: str) -> OdsOrganisation | None:
        self.calls += 1
        url = f"{self._base}/organisations/{ods_code}"
        try:
            response = self._http.get(url)
        except httpx.TransportError as error:
            raise TransientAdapterError(f"ODS lookup: {type(error).__name__}") from error
        status = response.status_code
        if status == 200:
            try:
                body = response.json()
            except ValueError as error:
                raise TransientAdapterError("ODS answered 200 with an unreadable body") from error
            return read_organisation(ods_code, body if isinstance(body, dict) else {})
        if status == 404:
            return None
        what = f"ODS lookup of {ods_code} answered {status}"
        raise error_for_status(status, what, retry_after=response.headers.get("Retry-After"))

    def close(self) -> None:
        self._http.close()
