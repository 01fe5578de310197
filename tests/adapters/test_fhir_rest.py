"""FhirRestGPSystem's own HTTP mapping, against scripted responses (httpx.MockTransport).

What a real FHIR server does is covered against the GP simulator in test_gp_simulator.py.
"""

import json
from typing import Any

import httpx
import pytest

from adapters.errors import PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.fhir_rest import FhirRestGPSystem
from adapters.gp_system import Delivery
from fhir_profiles import systems

BASE = "https://gp.example.nhs.uk/fhir"
DELIVERY = Delivery(
    delivery_id="del-1",
    recommendation_id="rec-1",
    ods_code="Y00001",
    bundle={"resourceType": "Bundle", "type": "transaction", "entry": []},
)


class Server:
    """Answers with the scripted responses in turn (repeating the last), recording requests."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def gp_system(server: Server, **options: Any) -> FhirRestGPSystem:
    return FhirRestGPSystem(
        base_url=BASE,
        bearer_token="token-123",
        transport=httpx.MockTransport(server),
        retry_max_wait=0.01,
        **options,
    )


def fhir(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def transaction_response(*entries: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": {"status": s, "location": loc}} for s, loc in entries],
    }


def outcome(diagnostics: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": diagnostics}],
    }


def task(task_id: str, status: str, last_updated: str, rec: str = "rec-1") -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": task_id,
        "status": status,
        "identifier": [{"system": systems.RECOMMENDATION_ID, "value": rec}],
        "meta": {"lastUpdated": last_updated},
    }


def searchset(tasks: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": t} for t in tasks],
    }


def test_submit_posts_the_bundle_as_fhir_json_with_the_bearer_token() -> None:
    server = Server(fhir(200, transaction_response(("201 Created", "Task/t1/_history/1"))))

    gp_system(server).submit(DELIVERY)

    (request,) = server.requests
    assert request.method == "POST"
    assert str(request.url) == BASE
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert request.headers["Authorization"] == "Bearer token-123"
    assert json.loads(request.content) == DELIVERY.bundle


def test_submit_receipt_names_the_task_and_whether_anything_was_created() -> None:
    created = Server(
        fhir(
            200,
            transaction_response(
                ("201 Created", "MedicationRequest/m1/_history/1"),
                ("201 Created", f"{BASE}/Task/t1/_history/1"),
            ),
        )
    )
    matched = Server(fhir(200, transaction_response(("200 OK", "MedicationRequest/m1"))))

    first = gp_system(created).submit(DELIVERY)
    again = gp_system(matched).submit(DELIVERY)

    assert (first.created, first.remote_reference, first.status_code) == (True, "t1", 200)
    assert (again.created, again.remote_reference) == (False, "MedicationRequest/m1")


def test_rate_limit_longer_than_short_retries_is_raised_at_once() -> None:
    server = Server(fhir(429, outcome("slow down"), headers={"Retry-After": "120"}))

    with pytest.raises(RateLimited) as raised:
        gp_system(server).submit(DELIVERY)

    assert raised.value.retry_after == 120
    assert raised.value.status_code == 429
    assert len(server.requests) == 1


def test_short_rate_limit_is_waited_out_in_process() -> None:
    server = Server(
        fhir(429, outcome("slow down"), headers={"Retry-After": "0"}),
        fhir(200, transaction_response(("201 Created", "Task/t1/_history/1"))),
    )

    receipt = gp_system(server).submit(DELIVERY)

    assert receipt.remote_reference == "t1"
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [503, 500, 408])
def test_server_errors_are_transient_and_retried(status: int) -> None:
    server = Server(fhir(status, outcome("busy")))

    with pytest.raises(TransientAdapterError) as raised:
        gp_system(server).submit(DELIVERY)

    assert raised.value.status_code == status
    assert len(server.requests) == 3


def test_timeouts_are_transient_and_retried() -> None:
    server = Server(httpx.ReadTimeout("too slow"))

    with pytest.raises(TransientAdapterError, match="ReadTimeout"):
        gp_system(server).submit(DELIVERY)

    assert len(server.requests) == 3


def test_ambiguous_conditional_create_is_permanent() -> None:
    server = Server(fhir(412, outcome("multiple matches")))

    with pytest.raises(PermanentAdapterError, match="conditional create") as raised:
        gp_system(server).submit(DELIVERY)

    assert raised.value.status_code == 412
    assert len(server.requests) == 1


def test_refused_bundle_is_permanent_and_names_the_diagnostics() -> None:
    server = Server(fhir(400, outcome("Task.owner is required")))

    with pytest.raises(PermanentAdapterError, match=r"400: Task\.owner is required") as raised:
        gp_system(server).submit(DELIVERY)

    assert not isinstance(raised.value, TransientAdapterError)
    assert len(server.requests) == 1


def test_fetch_updates_searches_the_practice_and_follows_next_links() -> None:
    server = Server(
        fhir(
            200,
            searchset(
                [
                    task("t1", "accepted", "2026-11-26T10:00:05+00:00", "rec-1"),
                    task("t2", "requested", "2026-11-26T10:00:09+00:00", "rec-2"),
                ],
                next_url=f"{BASE}/Task?page=2",
            ),
        ),
        fhir(200, searchset([task("t3", "rejected", "2026-11-26T10:00:07Z", "rec-3")])),
    )

    batch = gp_system(server, page_size=2).fetch_updates(
        ods_code="Y00001", since="2026-11-26T10:00:00+00:00"
    )

    first = server.requests[0].url.params
    assert first["owner"] == f"{systems.ODS_ORGANIZATION_CODE}|Y00001"
    assert first["_lastUpdated"] == "gt2026-11-26T10:00:00+00:00"
    assert (first["_count"], first["_sort"]) == ("2", "_lastUpdated")
    assert str(server.requests[1].url) == f"{BASE}/Task?page=2"
    assert [(r.recommendation_id, r.status) for r in batch.reports] == [
        ("rec-1", "accepted"),
        ("rec-3", "rejected"),
    ]
    # The uninterpretable Task still moves the cursor, so it is not fetched again.
    assert batch.cursor == "2026-11-26T10:00:09+00:00"
    assert batch.calls == 2


def test_fetch_updates_without_since_or_results_keeps_the_cursor() -> None:
    server = Server(fhir(200, searchset([])))

    batch = gp_system(server).fetch_updates(ods_code="Y00001", since=None)

    assert "_lastUpdated" not in server.requests[0].url.params
    assert (batch.reports, batch.cursor, batch.calls) == ([], None, 1)


def test_fetch_updates_counts_retried_pages_as_calls() -> None:
    server = Server(fhir(503, outcome("busy")), fhir(200, searchset([])))

    batch = gp_system(server).fetch_updates(ods_code="Y00001", since="2026-11-26T10:00:00Z")

    assert (batch.cursor, batch.calls) == ("2026-11-26T10:00:00Z", 2)


def test_fetch_updates_never_sends_the_token_to_another_host() -> None:
    server = Server(fhir(200, searchset([], next_url="https://elsewhere.example/Task?p=2")))

    with pytest.raises(PermanentAdapterError, match="elsewhere"):
        gp_system(server).fetch_updates(ods_code="Y00001", since=None)

    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "healthy"),
    [
        (httpx.Response(200, json={"resourceType": "CapabilityStatement"}), True),
        (httpx.Response(503), False),
        (httpx.ConnectError("refused"), False),
    ],
)
def test_health_reads_the_capability_statement(
    answer: httpx.Response | Exception, healthy: bool
) -> None:
    server = Server(answer)

    assert gp_system(server).health() is healthy
    assert str(server.requests[0].url) == f"{BASE}/metadata"
