"""The GP Connect Appointment Management adapter against the GP simulator over HTTP, and
against answers shaped as the specification's published examples (GP Connect 1.2,
github.com/nhsconnect/gpconnect, _includes/appointments/*.json)."""

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.gp_connect_appointments import (
    BOOK,
    SEARCH_SLOTS,
    GpConnectAppointments,
    GpConnectOptions,
    Requester,
    SlotUnavailable,
    audit_jwt,
)
from adapters.gp_connect_resources import BookingOrganisation, free_slots
from adapters.standins.gp_simulator.app import create_app
from tests.live_server import serving

# A Monday, 08:00 UK (GMT): the simulated practice's slots start at 09:00.
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
WHO = Requester("prac-1", "Alex Morgan", "RX3", "Example Mental Health Trust")
TRUST = BookingOrganisation("RX3", "Example Mental Health Trust", "0113 000 0000")


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[str, Any]]:
    app = create_app(step_seconds=1, clock=lambda: NOW)
    with serving(app) as url:
        yield url, app.state.appointments


def _client(base: str, ods: str = "Y00003", **extra: Any) -> GpConnectAppointments:
    options = GpConnectOptions(
        base_url=f"{base}/gpconnect/{ods}/STU3/1",
        consumer_asid="200000000001",
        provider_asid="918999198738",
        consumer_url="https://liaison.example.nhs.uk",
        retry_max_wait=0.01,
        **extra,
    )
    return GpConnectAppointments(options, clock=NOW.timestamp)


def test_free_slots_in_a_window_come_with_their_surgery_and_clinician(
    simulator: tuple[str, Any],
) -> None:
    base, _ = simulator
    with _client(base) as gpc:
        slots = gpc.search_free_slots(
            WHO, start=NOW, end=NOW + timedelta(days=1), consumer_ods="RX3"
        )
    assert len(slots) == 12  # 09:00 to 12:00, fifteen minutes each
    first = slots[0]
    assert first.start == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert first.end - first.start == timedelta(minutes=15)
    assert first.location_name == "Riverside Surgery"
    assert first.location_address == "1 Station Road, Leeds, LS1 1AA"
    assert first.practitioner == "Dr Asha Patel"
    assert first.delivery_channel == "In-person"


def test_every_request_carries_the_spine_headers_and_an_unsigned_audit_jwt(
    simulator: tuple[str, Any],
) -> None:
    base, _book = simulator
    seen: list[httpx.Request] = []
    transport = httpx.HTTPTransport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return transport.handle_request(request)

    gpc = GpConnectAppointments(
        GpConnectOptions(
            base_url=f"{base}/gpconnect/Y00003/STU3/1",
            consumer_asid="200000000001",
            provider_asid="918999198738",
            consumer_url="https://liaison.example.nhs.uk",
        ),
        transport=Recording(),
        clock=NOW.timestamp,
    )
    gpc.search_free_slots(WHO, start=NOW, end=NOW + timedelta(hours=6), consumer_ods="RX3")
    request = seen[0]
    assert request.headers["Ssp-From"] == "200000000001"
    assert request.headers["Ssp-To"] == "918999198738"
    assert request.headers["Ssp-InteractionID"] == SEARCH_SLOTS
    params = request.url.params
    assert params["status"] == "free"
    assert params["start"] == "ge2026-12-07T08:00:00+00:00"
    assert params.get_list("_include") == ["Slot:schedule"]
    assert "Schedule:actor:Location" in params.get_list("_include:recurse")
    assert params.get_list("searchFilter") == ["https://fhir.nhs.uk/Id/ods-organization-code|RX3"]
    header, claims, signature = request.headers["Authorization"].removeprefix("Bearer ").split(".")
    assert signature == ""
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "none", "typ": "JWT"}
    assert decoded["exp"] - decoded["iat"] == 300
    assert decoded["aud"] == f"{base}/gpconnect/Y00003/STU3/1"
    assert decoded["requested_scope"] == "organization/*.read"
    assert decoded["requesting_organization"]["identifier"][0]["value"] == "RX3"
    assert decoded["requesting_practitioner"]["id"] == decoded["sub"] == "prac-1"


def test_book_read_and_cancel_an_appointment_frees_the_slot_again(
    simulator: tuple[str, Any],
) -> None:
    base, book = simulator
    with _client(base) as gpc:
        window = {"start": NOW + timedelta(days=1), "end": NOW + timedelta(days=2)}
        slot = gpc.search_free_slots(WHO, consumer_ods="RX3", **window)[0]
        patient = gpc.find_patient(WHO, "9000000009")
        assert patient is not None
        booked = gpc.book(
            WHO,
            patient_id=patient,
            slot=slot,
            organisation=TRUST,
            description="Appointment requested by the patient's care team",
            comment="Liaison request 1234",
        )
        assert booked.status == "booked"
        assert booked.start == slot.start
        assert booked.slot_ids == (slot.slot_id,)
        stored = book.read("Y00003", booked.appointment_id)
        assert "reason" not in stored
        assert stored["contained"][0]["identifier"][0]["value"] == "RX3"
        assert slot.slot_id not in {
            s.slot_id for s in gpc.search_free_slots(WHO, consumer_ods="RX3", **window)
        }
        assert gpc.read(WHO, booked.appointment_id).status == "booked"
        cancelled = gpc.cancel(WHO, booked.appointment_id, "No longer needed")
        assert cancelled.status == "cancelled"
        assert slot.slot_id in {
            s.slot_id for s in gpc.search_free_slots(WHO, consumer_ods="RX3", **window)
        }


def test_a_slot_taken_since_the_search_is_slot_unavailable(simulator: tuple[str, Any]) -> None:
    base, _ = simulator
    with _client(base) as gpc:
        window = {"start": NOW + timedelta(days=2), "end": NOW + timedelta(days=3)}
        slot = gpc.search_free_slots(WHO, consumer_ods="RX3", **window)[0]
        kwargs = {"patient_id": "p1", "slot": slot, "organisation": TRUST, "description": "Review"}
        gpc.book(WHO, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(SlotUnavailable) as refused:
            gpc.book(WHO, **kwargs)  # type: ignore[arg-type]
    assert refused.value.status_code == 409
    assert "DUPLICATE_REJECTED" in str(refused.value)


def test_a_window_over_two_weeks_is_refused_before_anything_is_sent(
    simulator: tuple[str, Any],
) -> None:
    base, _ = simulator
    with _client(base) as gpc, pytest.raises(ValueError, match="two weeks"):
        gpc.search_free_slots(WHO, start=NOW, end=NOW + timedelta(days=15), consumer_ods="RX3")


def test_a_practice_without_slots_answers_an_empty_list(simulator: tuple[str, Any]) -> None:
    base, _ = simulator
    with _client(base, ods="Y00001") as gpc:
        assert (
            gpc.search_free_slots(WHO, start=NOW, end=NOW + timedelta(days=7), consumer_ods="RX3")
            == []
        )


def test_an_unknown_appointment_is_a_permanent_error_without_patient_data(
    simulator: tuple[str, Any],
) -> None:
    base, _ = simulator
    with _client(base) as gpc, pytest.raises(PermanentAdapterError) as refused:
        gpc.read(WHO, "does-not-exist")
    assert refused.value.status_code == 404
    assert "NO_RECORD_FOUND" in str(refused.value)


def test_server_errors_are_retried_then_transient() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Ssp-TraceID"])
        return httpx.Response(503, json={"resourceType": "OperationOutcome", "issue": []})

    options = GpConnectOptions(
        base_url="https://gp.example/STU3/1",
        consumer_asid="1",
        provider_asid="2",
        consumer_url="https://liaison.example",
        retry_max_wait=0.01,
    )
    gpc = GpConnectAppointments(options, transport=httpx.MockTransport(answer))
    with pytest.raises(TransientAdapterError):
        gpc.read(WHO, "9")
    assert len(calls) == 3
    assert len(set(calls)) == 3


def test_a_booking_is_never_repeated_after_a_server_error() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Ssp-InteractionID"])
        return httpx.Response(500)

    options = GpConnectOptions(
        base_url="https://gp.example/STU3/1",
        consumer_asid="1",
        provider_asid="2",
        consumer_url="https://liaison.example",
        retry_max_wait=0.01,
    )
    gpc = GpConnectAppointments(options, transport=httpx.MockTransport(answer))
    slot = free_slots(SPEC_SHAPED_SEARCH)[0]
    with pytest.raises(TransientAdapterError):
        gpc.book(WHO, patient_id="1", slot=slot, organisation=TRUST, description="Review")
    assert calls == [BOOK]


def test_the_ssp_proxy_prefixes_the_provider_service_root() -> None:
    urls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url.copy_with(query=None)))
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})

    options = GpConnectOptions(
        base_url="https://provider.example/GP0001/STU3/1",
        consumer_asid="1",
        provider_asid="2",
        consumer_url="https://liaison.example",
        ssp_url="https://proxy.spine.example",
    )
    gpc = GpConnectAppointments(options, transport=httpx.MockTransport(answer))
    gpc.find_patient(WHO, "9000000009")
    assert urls == ["https://proxy.spine.example/https://provider.example/GP0001/STU3/1/Patient"]
    token = audit_jwt(options, WHO, interaction=BOOK, now=NOW.timestamp())
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["aud"] == "https://provider.example/GP0001/STU3/1"
    assert claims["requested_scope"] == "patient/*.write"


# Shaped as the specification's search_for_free_slots_response_example.json: a Slot whose
# Schedule names a Location and a Practitioner, the Location's managing Organization.
SPEC_SHAPED_SEARCH: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "searchset",
    "entry": [
        {"resource": {
            "resourceType": "Slot", "id": "1584",
            "extension": [{
                "url": "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2",
                "valueCode": "In-person"}],
            "serviceType": [{"text": "General GP Appointment"}],
            "schedule": {"reference": "Schedule/14"}, "status": "free",
            "start": "2026-08-15T11:30:00+01:00", "end": "2026-08-15T11:40:00+01:00"}},
        {"resource": {
            "resourceType": "Schedule", "id": "14",
            "actor": [{"reference": "Location/17"}, {"reference": "Practitioner/2"}],
            "planningHorizon": {"start": "2026-08-15T09:00:00+01:00",
                                "end": "2026-08-15T12:00:00+01:00"}}},
        {"resource": {"resourceType": "Practitioner", "id": "2",
                      "name": [{"family": "Black", "given": ["Sarah"], "prefix": ["Mrs"]}]}},
        {"resource": {"resourceType": "Location", "id": "17", "name": "The Trevelyan Practice",
                      "address": {"line": ["Trevelyan Square", "Boar Ln", "Leeds"],
                                  "postalCode": "LS1 6AE"},
                      "managingOrganization": {"reference": "Organization/23"}}},
        {"resource": {"resourceType": "Organization", "id": "23",
                      "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                      "value": "A00001"}]}},
    ],
}  # fmt: skip


def test_a_spec_shaped_search_answer_reads_as_one_slot_in_bst() -> None:
    (slot,) = free_slots(SPEC_SHAPED_SEARCH)
    assert slot.slot_id == "1584"
    assert slot.start == datetime(2026, 8, 15, 10, 30, tzinfo=UTC)
    assert slot.location_id == "17"
    assert slot.location_address == "Trevelyan Square, Boar Ln, Leeds, LS1 6AE"
    assert slot.practitioner == "Mrs Sarah Black"


def test_the_booking_body_has_what_the_spec_example_has_and_no_reason() -> None:
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        return httpx.Response(201, json={**body, "id": "9", "meta": {"versionId": "1"}})

    options = GpConnectOptions(
        base_url="https://gp.example/STU3/1",
        consumer_asid="1",
        provider_asid="2",
        consumer_url="https://liaison.example",
    )
    gpc = GpConnectAppointments(options, transport=httpx.MockTransport(answer), clock=NOW.timestamp)
    slot = free_slots(SPEC_SHAPED_SEARCH)[0]
    booked = gpc.book(WHO, patient_id="1", slot=slot, organisation=TRUST, description="Review")
    body = sent[0]
    assert set(body) == {
        "resourceType",
        "meta",
        "contained",
        "extension",
        "status",
        "description",
        "start",
        "end",
        "slot",
        "created",
        "participant",
    }
    assert body["meta"]["profile"] == [
        "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Appointment-1"
    ]
    assert body["start"] == "2026-08-15T11:30:00+01:00"  # UK local time, as the spec asks
    assert body["extension"][0]["valueReference"] == {"reference": "#1"}
    assert body["contained"][0]["telecom"] == [{"system": "phone", "value": "0113 000 0000"}]
    assert [p["actor"]["reference"] for p in body["participant"]] == ["Patient/1", "Location/17"]
    assert booked.appointment_id == "9"
    assert booked.version_id == "1"
