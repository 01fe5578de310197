"""POST /v1/recommendations/{id}/cancel with a reason for the practice: a bad body is a 422
naming the problem with nothing changed; a good one cancels once, and the reason is what
Liaison's own Task and the withdrawal carry."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.cli import sample_recommendation
from gateway.services import withdrawals
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts


def _submitted(api: TestClient) -> str:
    response = api.post("/v1/recommendations", json=sample_recommendation("Y00001"))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": 12}, "reason"),
        ({"reason": "fine", "nhs_number": "9434765919"}, "nhs_number"),
        (["not", "an", "object"], "body"),
    ],
)
def test_a_bad_cancel_body_is_a_422_naming_the_problem_and_changes_nothing(
    api: TestClient, body: Any, names: str
) -> None:
    rec_id = _submitted(api)
    before = row_counts(api)

    response = api.post(f"/v1/recommendations/{rec_id}/cancel", json=body)

    assert response.status_code == 422, response.text
    assert names in response.text
    assert row_counts(api) == before
    assert api.get(f"/v1/recommendations/{rec_id}").json()["status"] == "received"


def test_the_reason_given_is_on_liaisons_own_task_and_the_timeline(api: TestClient) -> None:
    rec_id = _submitted(api)

    response = api.post(
        f"/v1/recommendations/{rec_id}/cancel",
        json={"reason": "  The service user   moved out of the area  "},
    )

    assert response.status_code == 200
    shown = api.get(f"/v1/recommendations/{rec_id}").json()
    assert shown["timeline"][-1]["detail"] == "The service user moved out of the area"
    task = api.get(shown["fhir"]["Task"]).json()
    assert task["status"] == "cancelled"
    assert task["statusReason"] == {"text": "The service user moved out of the area"}


def test_cancelling_without_a_body_uses_the_standard_reason(api: TestClient) -> None:
    rec_id = _submitted(api)

    assert api.post(f"/v1/recommendations/{rec_id}/cancel").status_code == 200

    task = api.get(api.get(f"/v1/recommendations/{rec_id}").json()["fhir"]["Task"]).json()
    assert task["statusReason"] == {"text": withdrawals.CANCELLED_REASON}


def test_a_request_not_yet_sent_is_stopped_and_no_withdrawal_is_queued(api: TestClient) -> None:
    rec_id = _submitted(api)

    api.post(f"/v1/recommendations/{rec_id}/cancel")

    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        deliveries = [(d.purpose, d.state) for d in uow.deliveries.for_recommendation(rec_id)]
    assert deliveries == [("request", "stopped")]


def test_the_attempts_summary_stays_the_requests_after_a_withdrawal(api: TestClient) -> None:
    rec_id = _submitted(api)
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        (request,) = uow.deliveries.for_recommendation(rec_id)
        request.state, request.attempt_count = "delivered", 1
        uow.commit()

    api.post(f"/v1/recommendations/{rec_id}/cancel", json={"reason": "moved away"})

    shown = api.get(f"/v1/recommendations/{rec_id}").json()
    assert shown["attempts"]["deliveries"] == 1
    assert shown["attempts"]["state"] == "delivered"
    details = [e["detail"] or "" for e in shown["timeline"]]
    assert any(d.startswith("withdrawal queued for the practice Y00001") for d in details)
