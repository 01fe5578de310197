"""A request withdrawn from an inbox practice: the practice's page shows it withdrawn with
the practitioner's reason, without its action buttons, and refuses any action with 409.
Delivered and withdrawn by the real delivery worker (the inbox adapter), not by hand."""

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from gateway.cli import sample_recommendation
from gateway.domain.retry_policy import RetryPolicy
from gateway.services import withdrawals
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.test_inbox import _csrf, _sign_in, _status, inbox
from workers import delivery
from workers.runtime import Runtime, channel_factory, gp_system_factory

__all__ = ["inbox"]

REASON = "The service user has decided to stop with nicotine patches from the pharmacy"


def _runtime(api: TestClient) -> Runtime:
    settings = api.app.state.settings  # type: ignore[attr-defined]
    return Runtime(
        settings=settings,
        session_factory=api.app.state.session_factory,  # type: ignore[attr-defined]
        gp_system_for=gp_system_factory(settings),
        channel=channel_factory(settings),
        retry_policy=RetryPolicy(1.0, 2.0, 60.0),
    )


def _deliveries(api: TestClient, rec_id: str) -> list[tuple[str, str, str]]:
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        return [(d.id, d.purpose, d.state) for d in uow.deliveries.for_recommendation(rec_id)]


def _delivered_by_the_worker(api: TestClient, token: str) -> str:
    response = api.post(
        "/v1/recommendations",
        json=sample_recommendation("A81003"),
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "inbox-withdrawn"},
    )
    assert response.status_code == 202, response.text
    rec_id = str(response.json()["id"])
    [(delivery_id, _, _)] = _deliveries(api, rec_id)
    assert delivery.deliver(_runtime(api), delivery_id) == "delivered"
    assert _status(api, rec_id) == "delivered"
    return rec_id


def _token(api: TestClient) -> str:
    from gateway.security.tokens import issue_token

    settings = api.app.state.settings  # type: ignore[attr-defined]
    return issue_token(settings, client_id="demo-app", organisation_ods="RX3")


def test_a_withdrawn_request_shows_withdrawn_with_its_reason_and_cannot_be_acted_on(
    inbox: TestClient,
) -> None:
    token = _token(inbox)
    rec_id = _delivered_by_the_worker(inbox, token)
    assert _sign_in(inbox) == 303
    before = inbox.get(f"/inbox/requests/{rec_id}")
    assert 'value="accept"' in before.text

    cancelled = inbox.post(
        f"/v1/recommendations/{rec_id}/cancel",
        json={"reason": REASON},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert cancelled.status_code == 200, cancelled.text
    [withdrawal] = [d for d in _deliveries(inbox, rec_id) if d[1] == "withdrawal"]
    assert delivery.deliver(_runtime(inbox), withdrawal[0]) == "delivered"

    page = inbox.get(f"/inbox/requests/{rec_id}")
    assert page.status_code == 200
    assert "This request has been withdrawn" in page.text
    assert REASON in page.text
    assert 'name="action"' not in page.text  # no action buttons any more
    listing = inbox.get("/inbox")
    assert rec_id in listing.text
    assert "Withdrawn" in listing.text

    refused = inbox.post(
        f"/inbox/requests/{rec_id}",
        data={"action": "accept", "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 409
    assert "withdrawn by the practitioner" in refused.text
    declined = inbox.post(
        f"/inbox/requests/{rec_id}",
        data={"action": "reject", "reason": "no", "csrf_token": _csrf(page.text)},
        follow_redirects=False,
    )
    assert declined.status_code == 409
    assert _status(inbox, rec_id) == "cancelled"
    with UnitOfWork(inbox.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        details = [e.detail or "" for e in uow.recommendations.timeline(rec_id)]
    assert any(d.startswith("withdrawal sent to the practice A81003") for d in details)
    assert any(d.startswith("withdrawal acknowledged by the practice A81003") for d in details)


def test_a_request_withdrawn_from_the_old_practice_stays_live_at_the_new_one(
    inbox: TestClient,
) -> None:
    # The service user re-registered: the request moves to A81004 and is withdrawn at A81003.
    rec_id = _delivered_by_the_worker(inbox, _token(inbox))
    with UnitOfWork(inbox.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        plan = withdrawals.withdraw(
            uow,
            rec_id,
            reason=withdrawals.REREGISTERED_REASON,
            now=datetime.now(UTC),
            practice_ods="A81003",
        )
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        rec.practice_ods = "A81004"
        uow.commit()
    assert len(plan.withdrawals) == 1

    assert _sign_in(inbox) == 303
    old = inbox.get(f"/inbox/requests/{rec_id}")
    assert "This request has been withdrawn" in old.text
    assert withdrawals.REREGISTERED_REASON in old.text
    inbox.post("/inbox/logout", data={"csrf_token": _csrf(old.text)})
    assert _sign_in(inbox, ods="A81004") == 303
    new = inbox.get(f"/inbox/requests/{rec_id}")
    assert new.status_code == 200
    assert "This request has been withdrawn" not in new.text
    assert 'value="accept"' in new.text
