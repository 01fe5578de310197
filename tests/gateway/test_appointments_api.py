"""The booking API: a case-management app lists the practice's free slots and books, cancels
or records the outcome of the appointment the practice asked for, through GP Connect
Appointment Management (the GP simulator over HTTP, offering slots for Y00003)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.gp_connect_appointments import GpConnectAppointments, GpConnectOptions
from adapters.standins.gp_simulator.app import create_app as create_simulator
from gateway.api.app import create_app
from gateway.cli import sample_recommendation
from gateway.domain.messages import SERVICE_USER, compose, denied_words
from gateway.domain.retry_policy import RetryPolicy
from gateway.practice_directory import AppointmentManagement, dev_directory, seed
from gateway.security.tokens import issue_token
from gateway.services.booking import Booking, with_booking_offer
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import BrokerSettings, DatabaseSettings, DevelopmentSettings, Settings
from gateway.store.appointment_models import Appointment
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Notification
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts
from tests.live_server import serving
from workers.appointments import check_attendance
from workers.runtime import Runtime, channel_factory, gp_system_factory, notify_templates

TRUST = {"name": "Example Mental Health Trust", "telephone": "0113 000 0000"}


@pytest.fixture
def simulator() -> Iterator[str]:
    with serving(create_simulator(step_seconds=3600)) as url:
        yield url


@pytest.fixture
def api(tmp_path: Path, simulator: str) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/api.db"),
        broker=BrokerSettings(url="memory://"),
        development=DevelopmentSettings(simulator_port=int(simulator.rsplit(":", 1)[1])),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
    engine.dispose()
    app = create_app(settings)
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    app.state.engine.dispose()


def _uow(api: TestClient) -> UnitOfWork:
    return UnitOfWork(api.app.state.session_factory)  # type: ignore[attr-defined]


def _asked_to_see(api: TestClient, ods: str = "Y00003") -> str:
    response = api.post("/v1/recommendations", json=sample_recommendation(ods))
    assert response.status_code == 202, response.text
    rec_id = str(response.json()["id"])
    with _uow(api) as uow:
        for status in ("delivered", "appointment-needed"):
            assert apply_status(uow, StatusChange(rec_id, status, source="poll"), now=_now())
        uow.commit()
    return rec_id


def _now() -> datetime:
    return datetime.now(UTC)


def _first_slot(api: TestClient, rec_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/recommendations/{rec_id}/slots")
    assert response.status_code == 200, response.text
    slots = response.json()["slots"]
    assert slots
    return dict(slots[0])


def _book(api: TestClient, rec_id: str, slot: dict[str, Any]) -> httpx.Response:
    body = {"slot_id": slot["id"], "start": slot["start"], "booking_organisation": TRUST}
    return api.post(f"/v1/recommendations/{rec_id}/appointment", json=body)


def _told(api: TestClient, rec_id: str) -> set[tuple[str, str]]:
    with _uow(api) as uow:
        rows = uow.session.scalars(
            select(Notification).where(Notification.recommendation_id == rec_id)
        )
        return {(n.event, n.recipient) for n in rows}


def test_slots_are_listed_with_time_place_and_clinician(api: TestClient) -> None:
    rec_id = _asked_to_see(api)
    slot = _first_slot(api, rec_id)
    assert slot["location"] == {
        "name": "Riverside Surgery",
        "address": "1 Station Road, Leeds, LS1 1AA",
    }
    assert slot["practitioner"] == "Dr Asha Patel"
    assert datetime.fromisoformat(slot["start"]) > _now()


def test_booking_keeps_time_and_place_and_tells_service_user_and_practitioner(
    api: TestClient, simulator: str
) -> None:
    rec_id = _asked_to_see(api)
    slot = _first_slot(api, rec_id)
    response = _book(api, rec_id, slot)
    assert response.status_code == 201, response.text
    booked = response.json()
    assert booked["state"] == "booked"
    assert booked["recommendation_status"] == "appointment-booked"
    assert datetime.fromisoformat(booked["start"]) == datetime.fromisoformat(slot["start"])
    assert booked["location"]["name"] == "Riverside Surgery"
    assert api.get(f"/v1/recommendations/{rec_id}").json()["status"] == "appointment-booked"
    assert {("appointment-booked", "service-user"), ("appointment-booked", "practitioner")} <= (
        _told(api, rec_id)
    )
    # The reminders scheduler's query: booked appointments by start time.
    start = datetime.fromisoformat(slot["start"])
    window = (start - timedelta(minutes=1), start + timedelta(days=1))
    with _uow(api) as uow:
        due = uow.appointments.booked_starting(*window)
        assert [a.recommendation_id for a in due] == [rec_id]
    # Withdrawn: no reminder schedule sees it any more.
    assert api.post(f"/v1/recommendations/{rec_id}/cancel").status_code == 200
    with _uow(api) as uow:
        assert uow.appointments.booked_starting(*window) == []
    (at_practice,) = httpx.get(f"{simulator}/_sim/appointments").json()
    assert "reason" not in at_practice
    assert "mental" not in (at_practice["description"] + at_practice["comment"]).lower()
    assert at_practice["contained"][0]["name"] == TRUST["name"]


def test_a_slot_taken_meanwhile_is_409_and_nothing_is_recorded(api: TestClient) -> None:
    first, second = _asked_to_see(api), _asked_to_see(api)
    slot = _first_slot(api, first)
    assert _book(api, first, slot).status_code == 201
    before = row_counts(api)
    refused = _book(api, second, slot)
    assert refused.status_code == 409
    assert "no longer free" in refused.json()["detail"]
    assert row_counts(api) == before
    assert api.get(f"/v1/recommendations/{second}").json()["status"] == "appointment-needed"


def test_cancelling_frees_the_slot_and_asks_for_an_appointment_again(
    api: TestClient, simulator: str
) -> None:
    rec_id = _asked_to_see(api)
    slot = _first_slot(api, rec_id)
    assert _book(api, rec_id, slot).status_code == 201
    cancelled = api.delete(f"/v1/recommendations/{rec_id}/appointment")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["recommendation_status"] == "appointment-needed"
    (at_practice,) = httpx.get(f"{simulator}/_sim/appointments").json()
    assert at_practice["status"] == "cancelled"
    assert _first_slot(api, rec_id)["id"] == slot["id"]
    assert ("appointment-cancelled", "service-user") in _told(api, rec_id)


def test_a_practice_without_appointment_management_is_409_with_its_telephone_path(
    api: TestClient,
) -> None:
    rec_id = _asked_to_see(api, "Y00001")
    refused = api.get(f"/v1/recommendations/{rec_id}/slots")
    assert refused.status_code == 409
    assert "does not offer GP Connect Appointment Management" in refused.json()["detail"]


def test_a_recommendation_not_waiting_for_an_appointment_is_409(api: TestClient) -> None:
    response = api.post("/v1/recommendations", json=sample_recommendation("Y00003"))
    rec_id = response.json()["id"]
    assert api.get(f"/v1/recommendations/{rec_id}/slots").status_code == 409
    assert api.delete(f"/v1/recommendations/{rec_id}/appointment").status_code == 409
    outcome = {"outcome": "attended"}
    assert (
        api.put(f"/v1/recommendations/{rec_id}/appointment/outcome", json=outcome).status_code
        == 409
    )


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("start=2026-12-01T09:00:00&end=2026-12-02T09:00:00", "start"),
        ("end=2020-01-01T00:00:00Z&start=2019-12-31T00:00:00Z", "passed"),
        ("start=2030-01-01T00:00:00Z&end=2030-01-20T00:00:00Z", "14 days"),
    ],
)
def test_a_bad_window_is_422_naming_the_problem(api: TestClient, query: str, why: str) -> None:
    rec_id = _asked_to_see(api)
    refused = api.get(f"/v1/recommendations/{rec_id}/slots?{query}")
    assert refused.status_code == 422
    assert why in refused.text


def test_another_organisations_recommendation_is_not_found(api: TestClient) -> None:
    rec_id = _asked_to_see(api)
    settings = api.app.state.settings  # type: ignore[attr-defined]
    other = issue_token(settings, client_id="demo-app", organisation_ods="RX9")
    headers = {"Authorization": f"Bearer {other}"}
    assert api.get(f"/v1/recommendations/{rec_id}/slots", headers=headers).status_code == 404
    assert (
        api.delete(f"/v1/recommendations/{rec_id}/appointment", headers=headers).status_code == 404
    )


def test_a_did_not_attend_tells_the_practitioner_and_allows_booking_again(api: TestClient) -> None:
    rec_id = _asked_to_see(api)
    assert _book(api, rec_id, _first_slot(api, rec_id)).status_code == 201
    recorded = api.put(
        f"/v1/recommendations/{rec_id}/appointment/outcome", json={"outcome": "did-not-attend"}
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["recommendation_status"] == "did-not-attend"
    assert recorded.json()["outcome_source"] == "practitioner"
    assert ("did-not-attend", "practitioner") in _told(api, rec_id)
    again = _book(api, rec_id, _first_slot(api, rec_id))
    assert again.status_code == 201
    assert again.json()["recommendation_status"] == "appointment-booked"


def test_attendance_the_practice_records_is_read_from_its_appointment(
    api: TestClient, simulator: str
) -> None:
    rec_id = _asked_to_see(api)
    booked = _book(api, rec_id, _first_slot(api, rec_id)).json()
    with _uow(api) as uow:
        appointment = uow.session.get(Appointment, booked["id"])
        assert appointment is not None
        booking = api.app.state.booking  # type: ignore[attr-defined]
        assert booking.check_attendance(uow, appointment, now=_now()) is None  # nothing yet
        remote = appointment.remote_id
        uow.commit()
    httpx.put(
        f"{simulator}/_sim/gpconnect/Y00003/appointments/{remote}/attendance",
        json={"status": "fulfilled"},
    ).raise_for_status()
    with _uow(api) as uow:
        appointment = uow.session.get(Appointment, booked["id"])
        assert appointment is not None
        assert booking.check_attendance(uow, appointment, now=_now()) == "attended"
        uow.commit()
    assert api.get(f"/v1/recommendations/{rec_id}").json()["status"] == "attended"
    assert api.get(f"/v1/recommendations/{rec_id}/appointment").json()["outcome_source"] == (
        "practice"
    )


def test_every_service_user_message_kind_has_a_notify_template() -> None:
    for medium in ("sms", "email"):
        assert set(SERVICE_USER) <= set(notify_templates(Settings(), medium))


def _runtime(api: TestClient) -> Runtime:
    settings = api.app.state.settings  # type: ignore[attr-defined]
    return Runtime(
        settings=settings.model_copy(
            update={
                "gpconnect": settings.gpconnect.model_copy(
                    update={"attendance_check_seconds": 3600}
                )
            }
        ),
        session_factory=api.app.state.session_factory,  # type: ignore[attr-defined]
        gp_system_for=gp_system_factory(settings),
        channel=channel_factory(settings),
        retry_policy=RetryPolicy(1, 1, 1),
    )


def test_beat_reads_a_missed_appointment_once_per_interval_and_tells_the_practitioner(
    api: TestClient, simulator: str
) -> None:
    rec_id = _asked_to_see(api)
    booked = _book(api, rec_id, _first_slot(api, rec_id)).json()
    rt = _runtime(api)
    assert check_attendance(rt) == 0  # read: nothing recorded yet
    (at_practice,) = httpx.get(f"{simulator}/_sim/appointments").json()
    httpx.put(
        f"{simulator}/_sim/gpconnect/Y00003/appointments/{at_practice['id']}/attendance",
        json={"status": "noshow"},
    ).raise_for_status()
    assert check_attendance(rt) == 0  # read within the interval: not asked again
    assert check_attendance(rt, now=_now() + timedelta(hours=2)) == 1
    view = api.get(f"/v1/recommendations/{rec_id}").json()
    assert view["status"] == "did-not-attend"
    assert view["appointment"]["id"] == booked["id"]
    assert view["appointment"]["state"] == "did-not-attend"
    assert ("did-not-attend", "practitioner") in _told(api, rec_id)
    # Once the recommendation has moved on, the practice is not asked again.
    assert check_attendance(rt, now=_now() + timedelta(hours=4)) == 0


def test_a_practice_whose_endpoint_keeps_failing_is_503_then_not_called(
    api: TestClient,
) -> None:
    calls: list[str] = []

    def failing(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503)

    def factory(ods: str, endpoint: AppointmentManagement) -> GpConnectAppointments:
        options = GpConnectOptions(
            base_url=endpoint.base_url,
            consumer_asid="1",
            provider_asid=endpoint.provider_asid,
            consumer_url="https://liaison.example",
            retry_attempts=1,
        )
        return GpConnectAppointments(options, transport=httpx.MockTransport(failing))

    settings = api.app.state.settings  # type: ignore[attr-defined]
    api.app.state.booking = Booking(  # type: ignore[attr-defined]
        settings.model_copy(
            update={
                "delivery": settings.delivery.model_copy(update={"breaker_failure_threshold": 2})
            }
        ),
        factory,
    )
    rec_id = _asked_to_see(api)
    for _ in range(2):
        answer = api.get(f"/v1/recommendations/{rec_id}/slots")
        assert answer.status_code == 503
        assert "did not answer" in answer.json()["detail"]
    assert len(calls) == 2
    stopped = api.get(f"/v1/recommendations/{rec_id}/slots")
    assert stopped.status_code == 503
    assert "keeps failing" in stopped.json()["detail"]
    assert int(stopped.headers["Retry-After"]) >= 1
    assert len(calls) == 2  # the open breaker sent nothing


def test_the_confirmation_names_time_and_surgery_and_nothing_else() -> None:
    payload = {
        "appointment": {
            "start": "2026-12-08T09:15:00+00:00",
            "location_name": "Riverside Surgery",
            "location_address": "1 Station Road, Leeds, LS1 1AA",
        },
        "routing": {"ods_code": "Y00003", "telephone": "0113 496 0003"},
    }
    wording = compose(
        event="appointment-booked",
        recipient="service-user",
        recommendation_id="rec-1",
        detail=None,
        payload=payload,
        product_name="Varenicline 1 mg tablets",
        pharmacy=None,
    )
    assert wording.body == (
        "Hello, your appointment at your GP practice is booked for Tuesday 8 December 2026 "
        "at 09:15 at Riverside Surgery, 1 Station Road, Leeds, LS1 1AA. If you cannot make it, "
        "please tell your care worker or call the practice on 0113 496 0003."
    )
    assert denied_words(wording.subject + wording.body) == []
    # A surgery whose name would say why is not named.
    payload["appointment"]["location_name"] = "Stop Smoking Clinic"
    hidden = compose(
        event="appointment-booked",
        recipient="service-user",
        recommendation_id="rec-1",
        detail=None,
        payload=payload,
        product_name="Varenicline 1 mg tablets",
        pharmacy=None,
    )
    assert "Clinic" not in hidden.body
    assert "at your GP practice." in hidden.body


def test_a_window_at_the_end_of_the_calendar_is_422_not_an_error(api: TestClient) -> None:
    rec_id = _asked_to_see(api)
    refused = api.get(f"/v1/recommendations/{rec_id}/slots?start=9999-12-31T23:59:59%2B00:00")
    assert refused.status_code == 422
    assert "out of range" in refused.json()["detail"]


def test_repeating_a_booking_answers_the_same_booking_and_books_nothing_twice(
    api: TestClient, simulator: str
) -> None:
    rec_id = _asked_to_see(api)
    slot = _first_slot(api, rec_id)
    first = _book(api, rec_id, slot)
    assert first.status_code == 201
    again = _book(api, rec_id, slot)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(httpx.get(f"{simulator}/_sim/appointments").json()) == 1
    other = dict(slot, id="190001010900")
    assert _book(api, rec_id, other).status_code == 409  # another slot: already booked


def test_the_practitioner_is_told_they_can_book_only_where_the_practice_offers_it(
    api: TestClient,
) -> None:
    def practitioner_message(rec_id: str) -> str:
        with _uow(api) as uow:
            rec = uow.recommendations.get(rec_id)
            assert rec is not None
            return compose(
                event="appointment-needed",
                recipient="practitioner",
                recommendation_id=rec_id,
                detail=None,
                payload=with_booking_offer(uow, rec),
                product_name="Varenicline 1 mg tablets",
                pharmacy=None,
            ).body

    offered = "The practice offers online booking"
    assert offered in practitioner_message(_asked_to_see(api, "Y00003"))
    assert offered not in practitioner_message(_asked_to_see(api, "Y00001"))


def test_a_withdrawn_recommendations_appointment_can_still_be_cancelled_at_the_practice(
    api: TestClient, simulator: str
) -> None:
    rec_id = _asked_to_see(api)
    assert _book(api, rec_id, _first_slot(api, rec_id)).status_code == 201
    assert api.post(f"/v1/recommendations/{rec_id}/cancel").status_code == 200
    cancelled = api.delete(f"/v1/recommendations/{rec_id}/appointment")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["recommendation_status"] == "cancelled"
    (at_practice,) = httpx.get(f"{simulator}/_sim/appointments").json()
    assert at_practice["status"] == "cancelled"
    assert api.delete(f"/v1/recommendations/{rec_id}/appointment").status_code == 409
