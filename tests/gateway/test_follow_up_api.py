"""The follow-up API: re-opening and the chain, practitioner preferences, the webhook
subscription, and time-to-ready figures per practice."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient

from gateway.api.v1.schemas import RecommendationIn
from gateway.cli import sample_recommendation
from gateway.security.tokens import issue_token
from gateway.services import intake
from gateway.services.practice_overview import percentile
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts


def _submit(api: TestClient, ods: str = "Y00002", key: str | None = None) -> str:
    headers = {"Idempotency-Key": key} if key else {}
    response = api.post("/v1/recommendations", json=sample_recommendation(ods), headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _accept(api: TestClient, ods: str) -> str:
    """Accept a recommendation as the API does (for tests that move the clock)."""
    body = RecommendationIn.model_validate(sample_recommendation(ods))
    factory = api.app.state.session_factory  # type: ignore[attr-defined]
    with UnitOfWork(factory) as uow:
        result = intake.submit(
            uow,
            intake.IntakeCommand("demo-app", "RX3", None, body.model_dump(mode="json")),
            now=datetime.now(UTC),
        )
    return result.recommendation_id


def _move(api: TestClient, rec_id: str, *statuses: str) -> None:
    factory = api.app.state.session_factory  # type: ignore[attr-defined]
    with UnitOfWork(factory) as uow:
        for status in statuses:
            change = StatusChange(rec_id, status, source="poll")
            assert apply_status(uow, change, now=datetime.now(UTC)), status
        uow.commit()


def _get(api: TestClient, rec_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/recommendations/{rec_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_rejected_recommendation_reopens_as_a_linked_successor(api: TestClient) -> None:
    original = _submit(api, "Y00002")
    _move(api, original, "delivered", "rejected")

    reopened = api.post(
        f"/v1/recommendations/{original}/reopen",
        json={"gp_practice": {"ods_code": "Y00001"}, "note": "Ready to try again"},
    )

    assert reopened.status_code == 202, reopened.text
    successor = reopened.json()["id"]
    assert reopened.headers["Location"].endswith(f"/v1/recommendations/{successor}")
    after = _get(api, successor)
    assert after["status"] == "received"
    assert after["practice_ods"] == "Y00001"
    assert after["predecessor_id"] == original
    assert [link["id"] for link in after["chain"]] == [original, successor]
    assert [link["status"] for link in after["chain"]] == ["rejected", "received"]
    before = _get(api, original)
    assert before["status"] == "rejected"  # history stays as it was
    assert before["successor_id"] == successor
    assert before["chain"] == after["chain"]
    # The successor goes through the whole pipeline again: its own resources and delivery.
    assert set(after["fhir"]) >= {"MedicationRequest", "CommunicationRequest", "Task"}
    assert after["attempts"]["deliveries"] == 1

    again = api.post(f"/v1/recommendations/{original}/reopen")
    assert again.status_code == 409
    assert successor in again.json()["detail"]


def test_reopen_is_idempotent_with_a_key_and_refused_while_in_progress(api: TestClient) -> None:
    busy = _submit(api, "Y00001")
    refused = api.post(f"/v1/recommendations/{busy}/reopen")
    assert refused.status_code == 409
    assert "still in progress" in refused.json()["detail"]

    _move(api, busy, "cancelled")
    headers = {"Idempotency-Key": "reopen-1"}
    first = api.post(f"/v1/recommendations/{busy}/reopen", headers=headers)
    second = api.post(f"/v1/recommendations/{busy}/reopen", headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert [link["id"] for link in _get(api, busy)["chain"]] == [busy, first.json()["id"]]


def test_a_bad_reopen_names_the_field_and_changes_nothing(api: TestClient) -> None:
    original = _submit(api, "Y00002")
    _move(api, original, "delivered", "rejected")
    before = row_counts(api)

    bad_product = api.post(
        f"/v1/recommendations/{original}/reopen",
        json={"medication": {"product": "tobacco", "dose_text": "one"}},
    )
    unknown_practice = api.post(
        f"/v1/recommendations/{original}/reopen", json={"gp_practice": {"ods_code": "Z99999"}}
    )
    extra_field = api.post(f"/v1/recommendations/{original}/reopen", json={"status": "accepted"})

    assert bad_product.status_code == 422
    assert bad_product.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in bad_product.json()["errors"]] == ["medication.product"]
    assert unknown_practice.status_code == 422
    assert unknown_practice.json()["errors"][0]["field"] == "gp_practice.ods_code"
    assert extra_field.status_code == 422
    assert row_counts(api) == before
    assert _get(api, original)["successor_id"] is None


def test_another_organisations_recommendation_cannot_be_reopened(api: TestClient) -> None:
    original = _submit(api, "Y00002")
    _move(api, original, "delivered", "rejected")
    settings = api.app.state.settings  # type: ignore[attr-defined]
    other = issue_token(settings, client_id="other-app", organisation_ods="RX9")
    response = api.post(
        f"/v1/recommendations/{original}/reopen", headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status_code == 404


def test_an_uncollected_prescription_expires_and_reopening_closes_it(api: TestClient) -> None:
    # Bearer tokens check the real clock, so only the practice's side travels in time.
    with time_machine.travel(datetime.now(UTC) - timedelta(days=29)):
        original = _accept(api, "Y00001")
        _move(api, original, "delivered", "accepted", "prescription-issued", "ready-to-collect")
    recent = _accept(api, "Y00001")
    _move(api, recent, "delivered", "accepted", "prescription-issued", "ready-to-collect")

    assert _get(api, recent)["expired"] is False
    assert api.post(f"/v1/recommendations/{recent}/reopen").status_code == 409
    assert _get(api, original)["expired"] is True
    reopened = api.post(f"/v1/recommendations/{original}/reopen")
    assert reopened.status_code == 202, reopened.text

    closed = _get(api, original)
    assert closed["status"] == "cancelled"
    assert closed["timeline"][-1]["detail"] == "expired; re-opened"
    assert closed["successor_id"] == reopened.json()["id"]


def test_practitioners_choose_immediate_messages_or_a_daily_digest(api: TestClient) -> None:
    url = "/v1/practitioners/mhscp-001/preferences"
    assert api.get(url).json() == {"practitioner_id": "mhscp-001", "notifications": "immediate"}
    assert api.put(url, json={"notifications": "daily-digest"}).status_code == 200
    assert api.get(url).json()["notifications"] == "daily-digest"
    bad = api.put(url, json={"notifications": "weekly"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "notifications"


def test_the_webhook_secret_is_taken_once_and_never_shown(api: TestClient) -> None:
    url = "/v1/webhook-subscription"
    assert api.get(url).status_code == 404
    short = api.put(url, json={"url": "https://app.example/hooks", "secret": "short"})
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "secret"
    secret = "s" * 40
    saved = api.put(url, json={"url": "https://app.example/hooks", "secret": secret})
    assert saved.status_code == 200
    shown = api.get(url).json()
    assert shown["url"] == "https://app.example/hooks"
    assert secret not in str(shown)
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(list(map(float, range(1, 11))), 0.9) == pytest.approx(9.1)


def test_practice_stats_give_the_median_and_p90_time_to_ready_and_need_the_ops_scope(
    api: TestClient,
) -> None:
    start = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    hours_to_ready = [2, 4, 6, 8, 30]
    for hours in hours_to_ready:
        with time_machine.travel(start, tick=False) as traveller:
            rec_id = _accept(api, "Y00001")
            _move(api, rec_id, "delivered")
            traveller.shift(timedelta(hours=hours))
            _move(api, rec_id, "accepted", "ready-to-collect")
    waiting = _accept(api, "Y00001")
    _move(api, waiting, "delivered")
    _accept(api, "Y00003")  # another practice's request does not count

    stats = api.get("/ops/practices/y00001/stats", params={"days": 3650})

    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["ods_code"] == "Y00001"
    assert body["ready"] == 5
    assert body["median_hours"] == 6.0
    assert body["p90_hours"] == pytest.approx(21.2)
    assert body["median_seconds"] == 6 * 3600
    assert body["awaiting_practice"] == 1
    assert api.get("/ops/practices/Z99999/stats").status_code == 404
    settings = api.app.state.settings  # type: ignore[attr-defined]
    no_ops = issue_token(
        settings, client_id="demo-app", organisation_ods="RX3", scopes=("recommendations",)
    )
    forbidden = api.get(
        "/ops/practices/Y00001/stats", headers={"Authorization": f"Bearer {no_ops}"}
    )
    assert forbidden.status_code == 403
