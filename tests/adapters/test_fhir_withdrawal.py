"""The FHIR REST withdrawal against a scripted server (httpx.MockTransport): what it searches,
what it sends, and how each answer is classed for the delivery's retry schedule."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.fhir_rest import FhirRestGPSystem
from adapters.gp_system import Delivery, DeliveryPurpose
from fhir_profiles import systems

BASE = "https://gp.example.org/fhir"
DELIVERY_ID = "d-1"
REASON = "Withdrawn by the practitioner"


def _withdrawal() -> Delivery:
    return Delivery(
        delivery_id=DELIVERY_ID,
        recommendation_id="r-1",
        ods_code="A81001",
        bundle={},
        purpose=DeliveryPurpose.WITHDRAWAL,
        withdrawal_reason=REASON,
    )


def _resource(
    resource_type: str, resource_id: str, delivery_id: str = DELIVERY_ID
) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "id": resource_id,
        "meta": {"versionId": "4"},
        "status": "active" if resource_type == "MedicationRequest" else "accepted",
        "intent": "proposal" if resource_type == "MedicationRequest" else "order",
        "identifier": [{"system": systems.DELIVERY_ID, "value": delivery_id}],
    }


def _searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def _gp(handler: Callable[[httpx.Request], httpx.Response]) -> FhirRestGPSystem:
    return FhirRestGPSystem(
        base_url=BASE, transport=httpx.MockTransport(handler), retry_max_wait=0.0, retry_attempts=1
    )


def test_it_finds_by_the_delivery_identifier_and_updates_each_with_if_match() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            kind = request.url.path.rsplit("/", 1)[-1]
            return httpx.Response(200, json=_searchset(_resource(kind, f"{kind}-1")))
        return httpx.Response(200, json={})

    receipt = _gp(handler).submit(_withdrawal())

    searches = [r for r in seen if r.method == "GET"]
    assert {r.url.params["identifier"] for r in searches} == {
        f"{systems.DELIVERY_ID}|{DELIVERY_ID}"
    }
    puts = [r for r in seen if r.method == "PUT"]
    assert [r.url.path for r in puts] == [
        "/fhir/Task/Task-1",
        "/fhir/MedicationRequest/MedicationRequest-1",
    ]
    assert all(r.headers["If-Match"] == 'W/"4"' for r in puts)
    task = httpx.Response(200, content=puts[0].content).json()
    assert task["status"] == "cancelled"
    assert task["statusReason"] == {"text": REASON}
    assert receipt.remote_reference == "Task-1"
    assert receipt.created


def test_resources_without_the_delivery_identifier_are_never_cancelled() -> None:
    # A server that ignored the search parameter answers with everything it holds.
    puts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            kind = request.url.path.rsplit("/", 1)[-1]
            return httpx.Response(200, json=_searchset(_resource(kind, "other", "someone-else")))
        puts.append(request)
        return httpx.Response(200, json={})

    receipt = _gp(handler).submit(_withdrawal())

    assert puts == []
    assert receipt.remote_reference is None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (412, TransientAdapterError),
        (409, TransientAdapterError),
        (503, TransientAdapterError),
        (400, PermanentAdapterError),
        (403, PermanentAdapterError),
    ],
)
def test_an_update_refused_is_classed_for_the_retry_schedule(
    status: int, error: type[Exception]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            kind = request.url.path.rsplit("/", 1)[-1]
            return httpx.Response(200, json=_searchset(_resource(kind, f"{kind}-1")))
        return httpx.Response(status, json={"resourceType": "OperationOutcome", "issue": []})

    with pytest.raises(error):
        _gp(handler).submit(_withdrawal())
