"""PUT/GET /v1/recommendations/{id}/reminders: the practitioner sets the reminders agreed with
the service user and sees the schedule they make; a bad plan is refused with nothing stored."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.cli import sample_recommendation
from gateway.security.tokens import issue_token
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts

TODAY = datetime.now(UTC).date()


def _submit(api: TestClient) -> str:
    response = api.post("/v1/recommendations", json=sample_recommendation("Y00001"))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _plan(**changes: Any) -> dict[str, Any]:
    return {
        "quit_date": str(TODAY + timedelta(days=10)),
        "course_start": str(TODAY),
        "supply_days": 28,
        **changes,
    }


def _events(body: dict[str, Any], recipient: str) -> list[str]:
    return [d["event"] for d in body["schedule"] if d["recipient"] == recipient]


def test_a_plan_is_stored_and_shows_the_schedule_it_makes(api: TestClient) -> None:
    rec_id = _submit(api)
    response = api.put(f"/v1/recommendations/{rec_id}/reminders", json=_plan())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] is True
    assert body["medicine"] == "varenicline"  # from the recommended product's catalogue entry
    assert body["morning"] == "09:00"
    # Varenicline's titration (days 1, 4 and 8), the quit date, the supply, the follow-ups.
    assert _events(body, "service-user") == [
        "plan-course-start",
        "plan-dose-step-1",
        "plan-dose-step-2",
        "plan-quit-date",
        "plan-supply-ending",
    ]
    assert _events(body, "practitioner") == [
        "plan-supply-request",
        "follow-up-week-4",
        "follow-up-week-12",
    ]
    assert api.get(f"/v1/recommendations/{rec_id}/reminders").json() == body


def test_without_a_plan_only_a_booked_appointment_would_be_reminded(api: TestClient) -> None:
    rec_id = _submit(api)
    body = api.get(f"/v1/recommendations/{rec_id}/reminders").json()
    assert body["stored"] is False
    assert body["kinds"] == ["appointment"]
    assert body["schedule"] == []  # nothing booked


def test_a_named_person_gets_copies_only_with_consent_and_their_address_is_not_echoed(
    api: TestClient,
) -> None:
    rec_id = _submit(api)
    person = {"role": "care-coordinator", "channel": "sms", "mobile": "07700 900456"}
    with_consent = api.put(
        f"/v1/recommendations/{rec_id}/reminders",
        json=_plan(named_person={**person, "consent": True}),
    ).json()
    assert with_consent["named_person"] == {
        "role": "care-coordinator",
        "channel": "sms",
        "consent": True,
    }
    assert _events(with_consent, "named-person") == _events(with_consent, "service-user")
    assert "900456" not in str(with_consent)
    without = api.put(
        f"/v1/recommendations/{rec_id}/reminders",
        json=_plan(named_person={**person, "consent": False}),
    ).json()
    assert _events(without, "named-person") == []


def test_turning_kinds_off_and_opting_out_change_the_schedule(api: TestClient) -> None:
    rec_id = _submit(api)
    url = f"/v1/recommendations/{rec_id}/reminders"
    quit_only = api.put(url, json=_plan(kinds=["quit-date"])).json()
    assert [d["event"] for d in quit_only["schedule"]] == ["plan-quit-date"]
    opted_out = api.put(url, json=_plan(service_user_consent=False)).json()
    assert _events(opted_out, "service-user") == []
    assert "follow-up-week-4" in _events(opted_out, "practitioner")
    off = api.put(url, json=_plan(enabled=False)).json()
    assert off["schedule"] == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quit_date": str(TODAY + timedelta(days=400))}, "quit_date"),
        ({"course_start": str(TODAY - timedelta(days=400))}, "course_start"),
        ({"course_start": None}, "course_start"),  # a supply needs its start
        ({"supply_days": 0}, "supply_days"),
        ({"morning": "25:00"}, "morning"),
        ({"kinds": ["everything"]}, "kinds"),
        ({"named_person": {"role": "carer", "channel": "sms", "consent": True}}, "named_person"),
        ({"named_person": {"role": "boss", "channel": "email", "email": "a@b.uk"}}, "named_person"),
    ],
)
def test_a_bad_plan_is_422_naming_the_field_and_stores_nothing(
    api: TestClient, changes: dict[str, Any], field: str
) -> None:
    rec_id = _submit(api)
    before = row_counts(api)
    response = api.put(f"/v1/recommendations/{rec_id}/reminders", json=_plan(**changes))
    assert response.status_code == 422, response.text
    assert field in response.text
    assert row_counts(api) == before


def test_an_ended_recommendation_is_409_and_an_unknown_one_404(api: TestClient) -> None:
    rec_id = _submit(api)
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        assert apply_status(
            uow, StatusChange(rec_id, "cancelled", source="practitioner"), now=datetime.now(UTC)
        )
        uow.commit()
    before = row_counts(api)
    assert api.put(f"/v1/recommendations/{rec_id}/reminders", json=_plan()).status_code == 409
    assert row_counts(api) == before
    missing = api.put("/v1/recommendations/no-such-id/reminders", json=_plan())
    assert missing.status_code == 404
    assert api.get("/v1/recommendations/no-such-id/reminders").status_code == 404


def test_another_organisations_recommendation_is_404(api: TestClient, settings: Settings) -> None:
    rec_id = _submit(api)
    other = issue_token(settings, client_id="demo-app", organisation_ods="RX4")
    headers = {"Authorization": f"Bearer {other}"}
    url = f"/v1/recommendations/{rec_id}/reminders"
    assert api.put(url, json=_plan(), headers=headers).status_code == 404
    assert api.get(url, headers=headers).status_code == 404
    assert api.get(url).json()["stored"] is False


def test_quit_date_far_in_the_past_is_refused_not_silently_scheduled(api: TestClient) -> None:
    rec_id = _submit(api)
    old = date(2000, 1, 1)
    response = api.put(f"/v1/recommendations/{rec_id}/reminders", json=_plan(quit_date=str(old)))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "quit_date"
