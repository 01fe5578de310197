"""A GP system reached through its FHIR R4 REST endpoint.

Requests go as one transaction Bundle whose entries carry `ifNoneExist` on the
delivery id, so a retried or replayed delivery is matched rather than duplicated.
Status comes back by searching the practice's Tasks changed since a cursor.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Any, Final, Literal, Self
from urllib.parse import urljoin, urlsplit

import httpx

from adapters import fhir_orders, fhir_withdrawal
from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.gp_system import Capability, Delivery, DeliveryPurpose, SubmitReceipt, UpdateBatch
from adapters.http_status import (
    error_for_status,
    is_success,
)
from adapters.retry import short_retry
from adapters.tls import shared_tls_context
from fhir_profiles import systems
from fhir_profiles.instants import read_datetime_as_utc
from fhir_profiles.task_status import StatusReport, interpret_task

FHIR_JSON: Final = "application/fhir+json"


class FhirRestGPSystem:
    """`GPSystem` over FHIR R4 REST. Close it (or use it as a context manager) when done."""

    capabilities = Capability.SUBMIT | Capability.WITHDRAW | Capability.FETCH_UPDATES

    def __init__(
        self,
        *,
        base_url: str,
        bearer_token: str | None = None,
        timeout: float = 10.0,
        page_size: int = 100,
        transport: httpx.BaseTransport | None = None,
        retry_attempts: int = 3,
        retry_max_wait: float = 2.0,
        auth: httpx.Auth | None = None,
        task_search: Literal["owner", "identifier"] = "owner",
        search_orders: bool = False,
        retry_give_up_after: float = 8.0,
    ) -> None:
        """`auth` (e.g. `SmartBackendAuth`) replaces `bearer_token`. `task_search` "owner"
        narrows Tasks by the owner's ODS code (an endpoint serving many practices);
        "identifier" takes every Task carrying Liaison's recommendation identifier (a
        practice's own endpoint; a plain token search any server supports). `search_orders`
        also follows MedicationRequest orders based on Liaison's proposals."""
        self._base = base_url.rstrip("/")
        self._page_size = page_size
        self._retry_attempts = retry_attempts
        self._retry_max_wait = retry_max_wait
        self._retry_give_up_after = retry_give_up_after
        self._task_search = task_search
        self._search_orders = search_orders
        headers = {"Accept": FHIR_JSON}
        if bearer_token:
            headers["Authorization"] = f"Bearer {bearer_token}"
        self._http = httpx.Client(
            headers=headers,
            timeout=timeout,
            transport=transport,
            auth=auth,
            verify=shared_tls_context(),
        )

    def submit(self, delivery: Delivery) -> SubmitReceipt:
        if delivery.purpose is DeliveryPurpose.WITHDRAWAL:
            return self._withdraw(delivery)
        response = self._with_retries(
            lambda: self._request(
                "POST", self._base, json=delivery.bundle, headers={"Content-Type": FHIR_JSON}
            )
        )
        return _receipt(response)

    def _withdraw(self, delivery: Delivery) -> SubmitReceipt:
        """Cancel the practice's Task and MedicationRequest for the request (adapters.
        fhir_withdrawal). `remote_reference` is the Task's id, None when the practice holds no
        copy; `created` says whether anything changed now (False on a repeat)."""
        reason = delivery.withdrawal_reason or "Withdrawn by the practitioner"
        token = fhir_withdrawal.identifier_token(delivery.delivery_id)
        found: list[dict[str, Any]] = []
        for resource_type in fhir_withdrawal.WITHDRAWN_TYPES:
            url = str(httpx.URL(f"{self._base}/{resource_type}", params={"identifier": token}))
            page = _json(self._with_retries(partial(self._request, "GET", url)))
            found += fhir_withdrawal.matches(page, resource_type, delivery.delivery_id)
        changed = 0
        for resource in found:
            updated = fhir_withdrawal.cancelled(resource, reason, now=datetime.now(UTC))
            if updated is None:
                continue
            headers = {"Content-Type": FHIR_JSON}
            version = fhir_withdrawal.version_of(resource)
            if version:
                headers["If-Match"] = f'W/"{version}"'
            url = f"{self._base}/{resource['resourceType']}/{resource['id']}"
            try:
                self._with_retries(
                    partial(self._request, "PUT", url, json=updated, headers=headers)
                )
            except PermanentAdapterError as error:
                if error.status_code in (409, 412):
                    # Changed at the practice since it was read: read it again next attempt.
                    raise TransientAdapterError(
                        str(error), status_code=error.status_code
                    ) from error
                raise
            changed += 1
        tasks = [r for r in found if r["resourceType"] == "Task"]
        reference = str((tasks or found)[0]["id"]) if found else None
        return SubmitReceipt(remote_reference=reference, status_code=200, created=changed > 0)

    def fetch_updates(self, *, ods_code: str, since: str | None) -> UpdateBatch:
        cursors = _Cursors.read(since, with_orders=self._search_orders)
        pages = _Pages(self)
        if self._task_search == "owner":
            criteria = ("owner", f"{systems.ODS_ORGANIZATION_CODE}|{ods_code}")
        else:
            criteria = ("identifier", f"{systems.RECOMMENDATION_ID}|")
        reports: list[StatusReport] = []
        task_cursor = _Cursor(cursors.tasks)
        for page in pages.search("Task", [criteria], since=cursors.tasks):
            for task in _tasks(page):
                task_cursor.see(task.get("meta", {}).get("lastUpdated"))
                report = interpret_task(task)
                if report is not None:
                    reports.append(report)
        order_cursor = _Cursor(cursors.orders)
        if self._search_orders:
            proposals: dict[str, str] = {}
            search = pages.search("MedicationRequest", [("intent", "order")], since=cursors.orders)
            for page in search:
                found = fhir_orders.orders(page)
                wanted = fhir_orders.unresolved_proposals(found, proposals)
                if wanted:
                    ids = ",".join(sorted(wanted))
                    for resolved in pages.search("MedicationRequest", [("_id", ids)], since=None):
                        proposals.update(fhir_orders.recommendation_ids(resolved))
                for order in found:
                    order_cursor.see(order.get("meta", {}).get("lastUpdated"))
                    report = fhir_orders.interpret_order(order, proposals)
                    if report is not None:
                        reports.append(report)
        return UpdateBatch(
            reports=reports,
            cursor=cursors.write(task_cursor.value, order_cursor.value),
            calls=pages.calls,
        )

    def health(self) -> bool:
        try:
            return self._http.get(f"{self._base}/metadata").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _with_retries(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        # Short retries only for calls that fail fast: one that timed out is left to the
        # delivery's schedule, so a slow practice never holds a worker for several timeouts.
        policy = short_retry(
            attempts=self._retry_attempts,
            max_wait=self._retry_max_wait,
            give_up_after=self._retry_give_up_after,
        )
        return policy(call)

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise TransientAdapterError(f"{method} {url}: {type(error).__name__}") from error
        _raise_for_status(response)
        return response

    def _next_page(self, page: dict[str, Any], followed: set[str]) -> str | None:
        for link in page.get("link", []):
            if link.get("relation") != "next" or not link.get("url"):
                continue
            url = urljoin(f"{self._base}/", str(link["url"]))
            # The bearer token goes with every page, so never hand it to another host.
            if _origin(url) != _origin(self._base):
                raise PermanentAdapterError(f"next page link leaves {_origin(self._base)}: {url}")
            if url in followed:
                raise PermanentAdapterError(f"next page link loops back to {url}")
            return url
        return None


class _Pages:
    """Searches that follow `next` links, counting every call made to the server."""

    def __init__(self, system: "FhirRestGPSystem") -> None:
        self._system = system
        self.calls = 0

    def _get(self, url: str) -> httpx.Response:
        self.calls += 1
        return self._system._request("GET", url)

    def search(
        self, resource_type: str, criteria: list[tuple[str, str]], *, since: str | None
    ) -> Iterator[dict[str, Any]]:
        params: list[tuple[str, str | int]] = list(criteria)
        if since is not None:
            params.append(("_lastUpdated", f"gt{since}"))
        params += [("_count", self._system._page_size), ("_sort", "_lastUpdated")]
        base = self._system._base
        url: str | None = str(httpx.URL(f"{base}/{resource_type}", params=params))
        followed: set[str] = set()
        while url is not None:
            followed.add(url)
            page = _json(self._system._with_retries(partial(self._get, url)))
            yield page
            url = self._system._next_page(page, followed)


@dataclass(frozen=True)
class _Cursors:
    """One stored cursor for Tasks, or for Tasks and orders together (as JSON)."""

    tasks: str | None
    orders: str | None
    with_orders: bool

    @classmethod
    def read(cls, stored: str | None, *, with_orders: bool) -> "_Cursors":
        if stored and stored.startswith("{"):
            try:
                both = json.loads(stored)
                return cls(both.get("Task"), both.get("MedicationRequest"), with_orders)
            except (ValueError, AttributeError):
                return cls(None, None, with_orders)
        return cls(stored, None, with_orders)

    def write(self, tasks: str | None, orders: str | None) -> str | None:
        if not self.with_orders:
            return tasks
        return json.dumps({"Task": tasks, "MedicationRequest": orders}, separators=(",", ":"))


class _Cursor:
    """The latest `meta.lastUpdated` seen, compared as instants but kept as the server spelled
    it, so the next search asks for exactly what the server said."""

    def __init__(self, since: str | None) -> None:
        self.value = since
        self._latest = read_datetime_as_utc(since) if since else None

    def see(self, last_updated: Any) -> None:
        instant = read_datetime_as_utc(last_updated)
        if instant is not None and (self._latest is None or instant > self._latest):
            self._latest = instant
            self.value = str(last_updated)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if is_success(status):
        return
    what = f"{response.request.method} {response.request.url.path} answered {status}"
    if status == 412:
        raise PermanentAdapterError(
            f"{what}: conditional create matched more than one resource", status_code=status
        )
    error = error_for_status(status, what, retry_after=response.headers.get("Retry-After"))
    diagnostics = _diagnostics(response) if isinstance(error, PermanentAdapterError) else ""
    if diagnostics:
        error = PermanentAdapterError(f"{what}: {diagnostics}", status_code=status)
    raise error


def _diagnostics(response: httpx.Response) -> str:
    try:
        outcome = response.json()
    except ValueError:
        return ""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return ""
    texts = [
        str(issue.get("diagnostics") or issue.get("details", {}).get("text") or "")
        for issue in outcome.get("issue", [])
    ]
    return "; ".join(text for text in texts if text)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as error:
        # A 2xx with an unreadable body is usually a proxy's page; asking again may help.
        raise TransientAdapterError(
            f"unreadable FHIR response from {response.request.url.path}",
            status_code=response.status_code,
        ) from error
    if not isinstance(body, dict):
        raise TransientAdapterError(
            f"FHIR response from {response.request.url.path} is not a resource",
            status_code=response.status_code,
        )
    return body


def _tasks(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    resources = (entry.get("resource") or {} for entry in bundle.get("entry", []))
    return [r for r in resources if isinstance(r, dict) and r.get("resourceType") == "Task"]


def _receipt(response: httpx.Response) -> SubmitReceipt:
    body = _json(response)
    outcomes = [entry.get("response") or {} for entry in body.get("entry", [])]
    locations = [str(o["location"]) for o in outcomes if o.get("location")]
    return SubmitReceipt(
        remote_reference=_task_id(locations) or (locations[0] if locations else None),
        status_code=response.status_code,
        created=any(str(o.get("status", "")).startswith("201") for o in outcomes),
    )


def _task_id(locations: list[str]) -> str | None:
    # Servers may answer `Task/1/_history/1` or an absolute `https://host/fhir/Task/1/...`.
    for location in locations:
        segments = urlsplit(location).path.strip("/").split("/")
        if len(segments) >= 4 and segments[-2] == "_history":
            segments = segments[:-2]
        if len(segments) >= 2 and segments[-2] == "Task":
            return segments[-1]
    return None
