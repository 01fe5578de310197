"""The practice inbox over HTTP: sign-in per practice, CSRF-protected actions, each action
recorded on the request's Task and applied through the lifecycle."""

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from adapters.standins.pds.patients import registered_at
from fhir_profiles.task_status import interpret_task
from gateway.cli import sample_recommendation
from gateway.practice_directory import PracticeSettings, ensure_inbox_user, write_practice
from gateway.security.passwords import hash_password
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.unit_of_work import UnitOfWork

PASSWORD = "a long practice password"


def _uow(api: TestClient) -> UnitOfWork:
    return UnitOfWork(api.app.state.session_factory)  # type: ignore[attr-defined]


@pytest.fixture
def inbox(api: TestClient) -> TestClient:
    with _uow(api) as uow:
        for ods in ("A81003", "A81004"):
            write_practice(uow, ods, PracticeSettings(adapter="inbox"), source="api")
            uow.session.flush()
            ensure_inbox_user(uow, ods, "reception", hash_password(PASSWORD), replace=True)
        uow.commit()
    api.headers.pop("Authorization", None)  # a browser, not an API client
    return api


def _delivered(api: TestClient, ods: str, key: str) -> str:
    from gateway.security.tokens import issue_token

    token = issue_token(api.app.state.settings, client_id="demo-app", organisation_ods="RX3")  # type: ignore[attr-defined]
    response = api.post(
        "/v1/recommendations",
        json=sample_recommendation(ods),
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.text
    rec_id = str(response.json()["id"])
    with _uow(api) as uow:
        apply_status(
            uow, StatusChange(rec_id, "delivered", source="delivery"), now=datetime.now(UTC)
        )
        uow.commit()
    return rec_id


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _sign_in(api: TestClient, ods: str = "A81003", password: str = PASSWORD) -> int:
    page = api.get("/inbox/login")
    response = api.post(
        "/inbox/login",
        data={
            "practice": ods,
            "username": "reception",
            "password": password,
            "csrf_token": _csrf(page.text),
        },
        follow_redirects=False,
    )
    return response.status_code


def _status(api: TestClient, rec_id: str) -> str:
    with _uow(api) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        return rec.status


def test_pages_need_a_signed_in_practice(inbox: TestClient) -> None:
    response = inbox.get("/inbox", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox/login"
    page = inbox.get("/inbox/login")
    assert page.status_code == 200
    assert '<label for="password">' in page.text


def test_a_wrong_password_is_refused_and_five_lock_the_account(inbox: TestClient) -> None:
    assert _sign_in(inbox, password="wrong password!") == 401
    for _ in range(4):
        _sign_in(inbox, password="wrong password!")
    assert _sign_in(inbox) == 401  # locked now, even with the right password
    assert _sign_in(inbox, ods="A81004") == 303  # another practice's account is unaffected


def test_staff_see_their_practices_requests_and_accept_one(inbox: TestClient) -> None:
    ours = _delivered(inbox, "A81003", "inbox-ours")
    theirs = _delivered(inbox, "A81004", "inbox-theirs")
    assert _sign_in(inbox) == 303

    listing = inbox.get("/inbox")
    assert ours in listing.text
    assert theirs not in listing.text
    assert "Sam Taylor" in listing.text
    nhs = registered_at("A81003")  # the sample recommendation's service user for A81003
    assert f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" in listing.text
    assert inbox.get(f"/inbox/requests/{theirs}").status_code == 404

    page = inbox.get(f"/inbox/requests/{ours}")
    assert "1 mg twice daily" in page.text
    done = inbox.post(
        f"/inbox/requests/{ours}",
        data={"action": "accept", "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _status(inbox, ours) == "accepted"
    with _uow(inbox) as uow:
        [task] = [r for r in uow.recommendations.resources_for(ours) if r.resource_type == "Task"]
        report = interpret_task(task.body)
        assert report is not None
        assert report.status == "accepted"
        # A version per step: as sent (1), delivered (2), accepted in the inbox (3).
        assert task.version_id == 3
        assert task.body["status"] == "accepted"
        [event] = [e for e in uow.recommendations.timeline(ours) if e.status == "accepted"]
        assert event.source == "inbox"
    # Another practice's request cannot be moved on, even with a valid form.
    other = inbox.post(
        f"/inbox/requests/{theirs}",
        data={"action": "accept", "csrf_token": _csrf(page.text)},
    )
    assert other.status_code == 404
    assert _status(inbox, theirs) == "delivered"


def test_an_action_without_the_csrf_token_is_refused(inbox: TestClient) -> None:
    rec_id = _delivered(inbox, "A81003", "inbox-csrf")
    assert _sign_in(inbox) == 303
    response = inbox.post(f"/inbox/requests/{rec_id}", data={"action": "accept"})
    assert response.status_code == 403
    forged = inbox.post(
        f"/inbox/requests/{rec_id}", data={"action": "accept", "csrf_token": "guess"}
    )
    assert forged.status_code == 403
    assert _status(inbox, rec_id) == "delivered"


def test_rejecting_needs_a_reason_which_reaches_the_timeline(inbox: TestClient) -> None:
    rec_id = _delivered(inbox, "A81003", "inbox-reject")
    assert _sign_in(inbox) == 303
    token = _csrf(inbox.get(f"/inbox/requests/{rec_id}").text)
    missing = inbox.post(
        f"/inbox/requests/{rec_id}", data={"action": "reject", "reason": " ", "csrf_token": token}
    )
    assert missing.status_code == 422
    assert 'href="#reason"' in missing.text
    assert _status(inbox, rec_id) == "delivered"

    inbox.post(
        f"/inbox/requests/{rec_id}",
        data={"action": "reject", "reason": "Needs a review with the GP", "csrf_token": token},
    )
    assert _status(inbox, rec_id) == "rejected"
    with _uow(inbox) as uow:
        assert uow.recommendations.timeline(rec_id)[-1].detail == "Needs a review with the GP"


def test_issuing_names_the_pharmacy(inbox: TestClient) -> None:
    rec_id = _delivered(inbox, "A81003", "inbox-issue")
    assert _sign_in(inbox) == 303
    token = _csrf(inbox.get(f"/inbox/requests/{rec_id}").text)
    inbox.post(
        f"/inbox/requests/{rec_id}",
        data={"action": "issued", "pharmacy": "Boots, 1 High St", "csrf_token": token},
    )
    assert _status(inbox, rec_id) == "prescription-issued"
    with _uow(inbox) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        assert rec.payload["pharmacy"] == "Boots, 1 High St"


def test_signing_out_ends_the_session(inbox: TestClient) -> None:
    assert _sign_in(inbox) == 303
    token = _csrf(inbox.get("/inbox").text)
    inbox.post("/inbox/logout", data={"csrf_token": token}, follow_redirects=False)
    assert inbox.get("/inbox", follow_redirects=False).status_code == 303


def test_a_safety_flagged_request_is_listed_first_and_opens_with_the_flag(
    inbox: TestClient,
) -> None:
    from gateway.security.tokens import issue_token

    token = issue_token(inbox.app.state.settings, client_id="demo-app", organisation_ods="RX3")  # type: ignore[attr-defined]
    ids = []
    # The unflagged request arrives first; the one on clozapine must still come first.
    for key, medicines in (
        ("plain", [{"name": "sertraline"}]),
        ("flagged", [{"name": "clozapine"}]),
    ):
        body = {**sample_recommendation("A81003"), "current_medications": medicines}
        response = inbox.post(
            "/v1/recommendations",
            json=body,
            headers={"Idempotency-Key": f"inbox-{key}", "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 202, response.text
        ids.append(str(response.json()["id"]))
    with _uow(inbox) as uow:
        for rec_id in ids:
            apply_status(
                uow, StatusChange(rec_id, "delivered", source="delivery"), now=datetime.now(UTC)
            )
        uow.commit()
    plain, flagged = ids
    assert _sign_in(inbox) == 303

    listing = inbox.get("/inbox").text
    assert listing.index(flagged) < listing.index(plain)
    assert listing.count("Safety alert") == 1
    detail = inbox.get(f"/inbox/requests/{flagged}").text
    assert 'aria-label="Clinical safety alert"' in detail
    assert "clozapine" in detail.lower()
    assert 'aria-label="Clinical safety alert"' not in inbox.get(f"/inbox/requests/{plain}").text
