"""The GP simulator over real HTTP (uvicorn in a thread), driven by FhirRestGPSystem.

A fake clock steps the practices' scripts, so no test sleeps for a status change.
"""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.fhir_rest import FhirRestGPSystem
from adapters.gp_system import Delivery, DeliveryPurpose
from adapters.standins.gp_simulator import create_app
from adapters.standins.gp_simulator.scripts import PHARMACY, REJECTION_REASON
from fhir_profiles import systems

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
STEP = 2.0


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.delay = 0.0  # a slow clock stands in for a slow server, widening race windows

    def __call__(self) -> datetime:
        time.sleep(self.delay)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Simulator:
    def __init__(self, url: str, clock: FakeClock) -> None:
        self.url = url
        self.clock = clock
        self.http = httpx.Client(base_url=url)
        self.opened: list[FhirRestGPSystem] = []

    def gp_system(self, **options: Any) -> FhirRestGPSystem:
        gp = FhirRestGPSystem(base_url=f"{self.url}/fhir", retry_max_wait=0.01, **options)
        self.opened.append(gp)
        return gp

    def close(self) -> None:
        for gp in self.opened:
            gp.close()
        self.http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self.http.get(path, params=params).json()


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    clock = FakeClock(START)
    app = create_app(step_seconds=STEP, clock=clock)
    # Port 0: uvicorn binds a free port itself (and sets TCP_NODELAY on its connections).
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("simulator did not start")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    sim = Simulator(f"http://{host}:{port}", clock)
    yield sim
    sim.close()
    server.should_exit = True
    thread.join(timeout=10)


def delivery(ods: str = "Y00001", n: int = 1, *, rec: str | None = None) -> Delivery:
    """A minimal bundle shaped like the real builder's: MedicationRequest, CommunicationRequest
    and Task, each conditionally created on the delivery id."""
    delivery_id, rec_id = f"del-{ods}-{n}", rec or f"rec-{ods}-{n}"
    identifiers = [
        {"system": systems.DELIVERY_ID, "value": delivery_id},
        {"system": systems.RECOMMENDATION_ID, "value": rec_id},
    ]
    med_url, comm_url = f"urn:uuid:med-{delivery_id}", f"urn:uuid:comm-{delivery_id}"
    resources: list[tuple[str, dict[str, Any]]] = [
        (med_url, {"resourceType": "MedicationRequest", "status": "draft", "intent": "proposal"}),
        (comm_url, {"resourceType": "CommunicationRequest", "status": "active"}),
        (
            f"urn:uuid:task-{delivery_id}",
            {
                "resourceType": "Task",
                "status": "requested",
                "intent": "order",
                "focus": {"reference": med_url},
                "basedOn": [{"reference": comm_url}],
                "owner": {"identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": ods}},
            },
        ),
    ]
    entries = [
        {
            "fullUrl": full_url,
            "resource": {**resource, "identifier": identifiers},
            "request": {
                "method": "POST",
                "url": resource["resourceType"],
                "ifNoneExist": f"identifier={systems.DELIVERY_ID}|{delivery_id}",
            },
        }
        for full_url, resource in resources
    ]
    return Delivery(
        delivery_id=delivery_id,
        recommendation_id=rec_id,
        ods_code=ods,
        bundle={"resourceType": "Bundle", "type": "transaction", "entry": entries},
    )


def test_sending_the_same_bundle_twice_creates_it_once(simulator: Simulator) -> None:
    gp = simulator.gp_system()

    first = gp.submit(delivery())
    again = gp.submit(delivery())

    assert first.created is True
    assert again.created is False
    assert again.remote_reference == first.remote_reference
    received = simulator.get("/_sim/received")
    assert sorted(row["type"] for row in received) == [
        "CommunicationRequest",
        "MedicationRequest",
        "Task",
    ]
    assert {row["ods_code"] for row in received} == {"Y00001"}
    assert all(
        {"system": systems.DELIVERY_ID, "value": "del-Y00001-1"} in row["identifiers"]
        for row in received
    )


def test_concurrent_identical_submissions_create_once(simulator: Simulator) -> None:
    simulator.clock.delay = 0.02
    start = threading.Barrier(8)

    def submit_together() -> tuple[bool, str | None]:
        with simulator.gp_system() as gp:
            start.wait()
            receipt = gp.submit(delivery())
            return receipt.created, receipt.remote_reference

    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(lambda _: submit_together(), range(8)))

    assert sorted(created for created, _ in receipts) == [False] * 7 + [True]
    assert len({reference for _, reference in receipts}) == 1
    assert len(simulator.get("/_sim/received")) == 3


def test_bundle_references_point_at_the_created_resources(simulator: Simulator) -> None:
    task_id = simulator.gp_system().submit(delivery()).remote_reference

    task = simulator.get(f"/fhir/Task/{task_id}")
    medication = simulator.get(f"/fhir/{task['focus']['reference']}")
    communication = simulator.get(f"/fhir/{task['basedOn'][0]['reference']}")

    assert (task["status"], task["meta"]["versionId"]) == ("requested", "1")
    assert medication["resourceType"] == "MedicationRequest"
    assert communication["resourceType"] == "CommunicationRequest"
    assert task["focus"]["reference"] == f"MedicationRequest/{medication['id']}"


def test_prescribing_practice_reports_each_status_once_across_polls(
    simulator: Simulator,
) -> None:
    gp = simulator.gp_system()
    gp.submit(delivery("Y00001"))
    seen: list[tuple[str, str | None, datetime | None]] = []

    cursor = None
    for _ in range(6):
        for _ in range(2):  # a second poll at the same moment finds nothing new
            batch = gp.fetch_updates(ods_code="Y00001", since=cursor)
            seen += [(r.status, r.pharmacy, r.observed_at) for r in batch.reports]
            cursor = batch.cursor
        simulator.clock.advance(STEP)

    assert seen == [
        ("accepted", None, START + timedelta(seconds=2)),
        ("prescription-issued", PHARMACY, START + timedelta(seconds=4)),
        ("ready-to-collect", PHARMACY, START + timedelta(seconds=6)),
        ("collected", PHARMACY, START + timedelta(seconds=8)),
    ]
    assert cursor == "2026-11-26T10:00:08.000000+00:00"


@pytest.mark.parametrize(
    ("ods", "status", "detail"),
    [
        ("Y00002", "rejected", REJECTION_REASON),
        ("Y00003", "appointment-needed", "Practice asks to see the patient"),
    ],
)
def test_a_practice_that_does_not_prescribe_reports_why(
    simulator: Simulator, ods: str, status: str, detail: str
) -> None:
    gp = simulator.gp_system()
    gp.submit(delivery(ods))
    simulator.clock.advance(STEP * 5)

    (report,) = gp.fetch_updates(ods_code=ods, since=None).reports

    assert (report.recommendation_id, report.status) == (f"rec-{ods}-1", status)
    assert report.detail == detail


def test_unavailable_practice_fails_transiently_after_short_retries(
    simulator: Simulator,
) -> None:
    gp = simulator.gp_system()

    with pytest.raises(TransientAdapterError) as raised:
        gp.submit(delivery("Y00004"))
    with pytest.raises(TransientAdapterError):
        gp.fetch_updates(ods_code="Y00004", since=None)

    assert raised.value.status_code == 503
    assert simulator.get("/_sim/stats")["requests"] == {"Y00004": 6}
    assert simulator.get("/_sim/received") == []
    assert gp.health() is True  # the endpoint itself answers; the practice does not


def test_flaky_practice_is_handled_by_the_short_retries(simulator: Simulator) -> None:
    gp = simulator.gp_system()

    first = gp.submit(delivery("Y00005", 1))  # call 1 succeeds
    second = gp.submit(delivery("Y00005", 2))  # call 2 fails with 500, call 3 succeeds

    assert (first.created, second.created) == (True, True)
    assert simulator.get("/_sim/stats") == {
        "requests": {"Y00005": 3},
        "posts": 3,
        "searches": 0,
        "reads": 0,
        "updates": 0,
    }
    # The failed call stored nothing, so each delivery exists exactly once.
    delivery_ids = [
        identifier["value"]
        for row in simulator.get("/_sim/received")
        for identifier in row["identifiers"]
        if identifier["system"] == systems.DELIVERY_ID
    ]
    assert sorted(delivery_ids) == ["del-Y00005-1"] * 3 + ["del-Y00005-2"] * 3


def test_updates_are_paged_and_the_cursor_excludes_what_was_seen(simulator: Simulator) -> None:
    gp = simulator.gp_system(page_size=100)
    for n in range(250):
        gp.submit(delivery("Y00001", n))
        simulator.clock.advance(0.001)
    gp.submit(delivery("Y00009", 1))  # another practice's Task is never reported
    simulator.clock.advance(STEP)

    batch = gp.fetch_updates(ods_code="Y00001", since=None)
    again = gp.fetch_updates(ods_code="Y00001", since=batch.cursor)

    assert batch.calls == 3
    assert {r.status for r in batch.reports} == {"accepted"}
    assert {r.recommendation_id for r in batch.reports} == {f"rec-Y00001-{n}" for n in range(250)}
    assert (again.reports, again.calls, again.cursor) == ([], 1, batch.cursor)


def test_pages_are_consistent_while_tasks_move_on(simulator: Simulator) -> None:
    gp = simulator.gp_system()
    for n in range(3):
        gp.submit(delivery("Y00001", n))
        simulator.clock.advance(0.5)
    simulator.clock.advance(STEP - 1.5)  # every Task accepted, in creation order

    first = simulator.get("/fhir/Task", owner="Y00001", _count=2, _sort="_lastUpdated")
    simulator.clock.advance(STEP)  # the Tasks on page one move on to a later lastUpdated
    (next_link,) = [link["url"] for link in first["link"] if link["relation"] == "next"]
    second = simulator.http.get(next_link).json()

    ids = [entry["resource"]["id"] for page in (first, second) for entry in page["entry"]]
    assert (first["total"], len(ids), len(set(ids))) == (3, 3, 3)
    assert {entry["resource"]["status"] for entry in second["entry"]} == {"accepted"}
    assert not [link for link in second["link"] if link["relation"] == "next"]


def test_search_filters_on_last_updated_prefixes(simulator: Simulator) -> None:
    simulator.gp_system().submit(delivery("Y00001"))
    created = "2026-11-26T10:00:00.000000+00:00"

    def total(prefix: str) -> int:
        params = {"owner": "Y00001", "_lastUpdated": f"{prefix}{created}"}
        return int(simulator.get("/fhir/Task", **params)["total"])

    assert (total("gt"), total("ge"), total("le"), total("lt")) == (0, 1, 1, 0)


def test_ambiguous_conditional_create_is_refused(simulator: Simulator) -> None:
    gp = simulator.gp_system()
    gp.submit(delivery("Y00001", 1, rec="rec-shared"))
    gp.submit(delivery("Y00001", 2, rec="rec-shared"))
    by_recommendation = delivery("Y00001", 3, rec="rec-shared")
    for entry in by_recommendation.bundle["entry"]:
        entry["request"]["ifNoneExist"] = f"identifier={systems.RECOMMENDATION_ID}|rec-shared"

    with pytest.raises(PermanentAdapterError) as raised:
        gp.submit(by_recommendation)

    assert raised.value.status_code == 412
    assert len(simulator.get("/_sim/received")) == 6


def test_malformed_bundle_is_refused_with_an_operation_outcome(simulator: Simulator) -> None:
    bad = delivery()
    bad.bundle["type"] = "batch"

    with pytest.raises(PermanentAdapterError, match="only transaction Bundles"):
        simulator.gp_system().submit(bad)

    missing = simulator.http.get("/fhir/Task/nope")
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_the_simulator_serves_its_capability_statement_and_a_reset_forgets_everything(
    simulator: Simulator,
) -> None:
    simulator.gp_system().submit(delivery())

    metadata = simulator.get("/fhir/metadata")
    simulator.http.post("/_sim/reset")

    assert (metadata["resourceType"], metadata["fhirVersion"]) == ("CapabilityStatement", "4.0.1")
    assert simulator.get("/_sim/received") == []
    assert simulator.get("/_sim/stats")["posts"] == 0


def _withdrawal(sent: Delivery, reason: str = "The service user has stopped smoking") -> Delivery:
    return dataclass_replace(sent, purpose=DeliveryPurpose.WITHDRAWAL, withdrawal_reason=reason)


def _by_delivery(simulator: Simulator, resource_type: str, delivery_id: str) -> dict[str, Any]:
    found = simulator.get(
        f"/fhir/{resource_type}", identifier=f"{systems.DELIVERY_ID}|{delivery_id}"
    )
    (entry,) = found["entry"]
    resource: dict[str, Any] = entry["resource"]
    return resource


def test_a_withdrawal_cancels_the_practices_task_and_medication_request(
    simulator: Simulator,
) -> None:
    gp = simulator.gp_system()
    sent = delivery("Y00001", 40)
    gp.submit(sent)
    simulator.clock.advance(STEP)  # the practice accepts it

    receipt = gp.submit(_withdrawal(sent))

    task = _by_delivery(simulator, "Task", sent.delivery_id)
    order = _by_delivery(simulator, "MedicationRequest", sent.delivery_id)
    assert receipt.created
    assert receipt.remote_reference == task["id"]
    assert task["status"] == "cancelled"
    assert task["statusReason"] == {"text": "The service user has stopped smoking"}
    assert order["status"] == "cancelled"
    # The practice's script stops: a withdrawn request is never prescribed later.
    simulator.clock.advance(STEP * 5)
    assert _by_delivery(simulator, "Task", sent.delivery_id)["status"] == "cancelled"
    reports = gp.fetch_updates(ods_code="Y00001", since=None).reports
    assert [r.status for r in reports if r.recommendation_id == sent.recommendation_id] == []


def test_a_repeated_withdrawal_changes_nothing_more(simulator: Simulator) -> None:
    gp = simulator.gp_system()
    sent = delivery("Y00001", 41)
    gp.submit(sent)
    gp.submit(_withdrawal(sent))
    before = simulator.get("/_sim/stats")["updates"]

    again = gp.submit(_withdrawal(sent))

    assert not again.created
    assert again.remote_reference is not None
    assert simulator.get("/_sim/stats")["updates"] == before


def test_withdrawing_a_request_the_practice_never_got_finds_nothing_to_cancel(
    simulator: Simulator,
) -> None:
    receipt = simulator.gp_system().submit(_withdrawal(delivery("Y00001", 42)))

    assert receipt.remote_reference is None
    assert not receipt.created


def test_an_update_against_a_stale_version_is_refused_with_412(simulator: Simulator) -> None:
    gp = simulator.gp_system()
    sent = delivery("Y00001", 43)
    gp.submit(sent)
    task = _by_delivery(simulator, "Task", sent.delivery_id)
    simulator.clock.advance(STEP)  # the practice moves the Task on: a new version

    response = simulator.http.put(
        f"/fhir/Task/{task['id']}",
        json={**task, "status": "cancelled"},
        headers={"If-Match": f'W/"{task["meta"]["versionId"]}"'},
    )

    assert response.status_code == 412
    assert _by_delivery(simulator, "Task", sent.delivery_id)["status"] == "accepted"


def test_tasks_are_found_by_any_value_of_an_identifier_system(simulator: Simulator) -> None:
    gp = simulator.gp_system(task_search="identifier")
    gp.submit(delivery("Y00001", 50))
    gp.submit(delivery("Y00003", 51))
    simulator.clock.advance(STEP)

    reports = gp.fetch_updates(ods_code="Y00001", since=None).reports

    assert {r.recommendation_id for r in reports} >= {"rec-Y00001-50", "rec-Y00003-51"}
