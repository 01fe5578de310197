"""Withdrawals in the console and /ops/deliveries: a withdrawal is listed with its purpose,
its page says which request it withdraws, and a dead one shows why with a Replay button."""

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.test_console import _submit, console

__all__ = ["console"]


def _withdrawn(api: TestClient) -> tuple[str, str, str]:
    """A delivered request, cancelled: (recommendation, request delivery, withdrawal)."""
    rec_id = _submit(api, "Y00001")
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        (request,) = uow.deliveries.for_recommendation(rec_id)
        request.state, request.attempt_count = "delivered", 1
        request.delivered_at = datetime.now(UTC)
        request_id = request.id
        uow.commit()
    assert api.post(f"/v1/recommendations/{rec_id}/cancel").status_code == 200
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        (withdrawal,) = [
            d for d in uow.deliveries.for_recommendation(rec_id) if d.purpose == "withdrawal"
        ]
        return rec_id, request_id, withdrawal.id


def test_a_withdrawal_is_listed_with_its_purpose_and_names_what_it_withdraws(
    console: TestClient,
) -> None:
    rec_id, request_id, withdrawal_id = _withdrawn(console)

    listing = console.get("/console/deliveries", params={"recommendation_id": rec_id})
    assert listing.status_code == 200
    assert "<td>withdrawal</td>" in listing.text
    assert "<td>request</td>" in listing.text
    page = console.get(f"/console/deliveries/{withdrawal_id}")
    assert page.status_code == 200
    assert "withdrawal</strong> of" in page.text
    assert f"/console/deliveries/{request_id}" in page.text
    found = console.get("/ops/deliveries", params={"recommendation_id": rec_id}).json()
    purposes = {d["id"]: (d["purpose"], d["withdraws"]) for d in found["items"]}
    assert purposes == {request_id: ("request", None), withdrawal_id: ("withdrawal", request_id)}


# As gateway.services.itk_responses words a practice system's negative ITK3 response.
REFUSED = (
    "the practice system refused the withdrawal (ITK3 business response 30003: Patient no "
    "longer at this clinical setting)"
)


def test_a_dead_withdrawal_shows_why_and_can_be_replayed(console: TestClient) -> None:
    _, _, withdrawal_id = _withdrawn(console)
    with UnitOfWork(console.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        withdrawal = uow.deliveries.get(withdrawal_id)
        assert withdrawal is not None
        withdrawal.state, withdrawal.attempt_count = "dead", 1
        withdrawal.last_error = REFUSED
        uow.commit()

    page = console.get(f"/console/deliveries/{withdrawal_id}")

    assert REFUSED in page.text
    assert 'id="replay"' in page.text


def test_ops_deliveries_filters_by_purpose(console: TestClient) -> None:
    rec_id, request_id, withdrawal_id = _withdrawn(console)

    def ids(purpose: str) -> list[str]:
        found = console.get(
            "/ops/deliveries", params={"recommendation_id": rec_id, "purpose": purpose}
        )
        assert found.status_code == 200, found.text
        return [d["id"] for d in found.json()["items"]]

    assert ids("withdrawal") == [withdrawal_id]
    assert ids("request") == [request_id]
    refused = console.get("/ops/deliveries", params={"purpose": "reminder"})
    assert refused.status_code == 422
    assert "purpose" in refused.text
