"""A submission is one transaction: the recommendation, its resources, delivery, outbox row
and its audit record reach the database in a single commit, or none of them do."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, select

from gateway.cli import sample_recommendation
from gateway.store.models import AuditRecord, Recommendation
from gateway.store.unit_of_work import UnitOfWork


def _audit_rows(api: TestClient) -> list[AuditRecord]:
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        rows = list(uow.session.scalars(select(AuditRecord).order_by(AuditRecord.id)))
        uow.session.expunge_all()
        return rows


def test_a_submission_and_its_audit_record_share_one_commit(api: TestClient) -> None:
    engine = api.app.state.engine  # type: ignore[attr-defined]
    commits: list[Any] = []
    listener = lambda *_: commits.append(1)  # noqa: E731
    event.listen(engine, "commit", listener)
    try:
        accepted = api.post("/v1/recommendations", json=sample_recommendation("Y00001"))
    finally:
        event.remove(engine, "commit", listener)

    assert accepted.status_code == 202
    assert len(commits) == 1
    records = [r for r in _audit_rows(api) if r.recommendation_id == accepted.json()["id"]]
    assert [(r.method, r.route, r.status_code, r.outcome) for r in records] == [
        ("POST", "/v1/recommendations", 202, "0")
    ]


def test_a_replayed_submission_is_recorded_once_more(api: TestClient) -> None:
    headers = {"Idempotency-Key": "same-key"}
    body = sample_recommendation("Y00001")
    first = api.post("/v1/recommendations", json=body, headers=headers)
    again = api.post("/v1/recommendations", json=body, headers=headers)

    assert again.json()["id"] == first.json()["id"]
    assert again.json()["links"] == first.json()["links"]
    records = [r for r in _audit_rows(api) if r.recommendation_id == first.json()["id"]]
    assert [(r.route, r.status_code) for r in records] == [
        ("/v1/recommendations", 202),
        ("/v1/recommendations", 202),
    ]


def test_a_refused_submission_leaves_its_record_and_nothing_else(api: TestClient) -> None:
    refused = api.post("/v1/recommendations", json=sample_recommendation("Z99999"))

    assert refused.status_code == 422
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        assert uow.session.scalars(select(Recommendation)).all() == []
    assert [(r.route, r.status_code) for r in _audit_rows(api)] == [("/v1/recommendations", 422)]
