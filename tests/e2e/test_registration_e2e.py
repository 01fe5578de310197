"""Routing by the registered practice, end to end on real processes: the API, worker and
beat through the `liaison` CLI, the PDS and ODS stand-ins and the GP simulator over HTTP."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.standins.pds import patients as canned
from gateway.cli import sample_recommendation
from tests.e2e.stack import Stack, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("registration")
    running = Stack(
        workdir=workdir,
        database_url=f"sqlite:///{workdir}/liaison.db",
        broker_url=f"sqla+sqlite:///{workdir}/broker.db",
        # The simulator's scripts stay at "received" long enough to look at.
        extra_env={"LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "30"},
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _submit(client: httpx.Client, nhs_number: str, gp_practice: str | None) -> str:
    body = sample_recommendation("Y00001")
    body["service_user"]["nhs_number"] = nhs_number
    if gp_practice is None:
        del body["gp_practice"]
    else:
        body["gp_practice"] = {"ods_code": gp_practice}
    response = client.post(
        "/v1/recommendations", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _get(client: httpx.Client, rec_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
    return body


def _delivered(client: httpx.Client, rec_id: str, timeout: float = 90) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (b := _get(client, rec_id))["status"] not in ("received", "queued") and b,
        timeout=timeout,
        what=f"{rec_id} to leave queued",
    )
    return found


def _at_gp(stack: Stack, rec_id: str) -> set[str]:
    return {
        row["ods_code"]
        for row in stack.received_at_gp()
        if any(i.get("value") == rec_id for i in row["identifiers"])
    }


def test_without_gp_practice_it_is_delivered_to_the_practice_pds_names(stack: Stack) -> None:
    with stack.client() as client:
        rec = _submit(client, canned.registered_at("Y00003"), None)
        body = _delivered(client, rec)
    assert body["status"] in ("delivered", "appointment-needed"), body["timeline"]
    assert body["practice_ods"] == "Y00003"
    assert body["routing"]["ods_code"] == "Y00003"
    assert body["routing"]["name"] == "PARK LANE HEALTH CENTRE"
    assert _at_gp(stack, rec) == {"Y00003"}


def test_a_stale_ods_code_goes_to_the_registered_practice_with_the_correction_shown(
    stack: Stack,
) -> None:
    with stack.client() as client:
        rec = _submit(client, canned.MOVER, "Y00002")  # PDS: registered at Y00001
        body = _delivered(client, rec)
        assert body["practice_ods"] == "Y00001"
        assert body["routing"]["corrected"]
        assert body["routing"]["given_ods_code"] == "Y00002"
        assert any(e["detail"] and "not Y00002 as given" in e["detail"] for e in body["timeline"])
        assert _at_gp(stack, rec) == {"Y00001"}
        mail = wait_for(
            lambda: [
                m
                for m in stack.mail()
                if rec in m["body"] and "registered GP practice" in m["subject"]
            ],
            timeout=60,
            what="the practitioner told of the correction",
        )
    assert "RIVERSIDE MEDICAL PRACTICE (Y00001)" in mail[0]["body"]


def test_an_unknown_nhs_number_ends_with_its_reason_and_the_practitioner_told(
    stack: Stack,
) -> None:
    with stack.client() as client:
        rec = _submit(client, canned.UNKNOWN, "Y00001")
        body = _delivered(client, rec)
        assert body["status"] == "identity-mismatch"
        reason = next(e["detail"] for e in body["timeline"] if e["status"] == "identity-mismatch")
        assert "PDS has no patient with this NHS number" in reason
        wait_for(
            lambda: [m for m in stack.mail() if rec in m["body"] and "stopped" in m["subject"]],
            timeout=60,
            what="the practitioner told",
        )
    assert _at_gp(stack, rec) == set()


def test_a_closed_practice_with_a_successor_in_ods_gets_nothing_its_successor_does(
    stack: Stack,
) -> None:
    with stack.client() as client:
        rec = _submit(client, canned.AT_MERGED_PRACTICE, None)
        body = _delivered(client, rec)
    assert body["practice_ods"] == "Y00001"
    assert _at_gp(stack, rec) == {"Y00001"}


def test_with_pds_down_for_a_while_recommendations_wait_and_are_all_delivered(
    stack: Stack,
) -> None:
    httpx.post(f"{stack.pds_url}/_pds/outage", json={"down_seconds": 600}).raise_for_status()
    practices = ("Y00001", "Y00002", "Y00003", "Y00006")
    try:
        with stack.client() as client:
            recs = [_submit(client, canned.registered_at(ods), None) for ods in practices]
            wait_for(
                lambda: all(
                    "waiting for the registered practice"
                    in (_get(client, r)["attempts"]["last_error"] or "")
                    for r in recs
                ),
                timeout=60,
                what="every delivery to wait for PDS",
            )
            assert all(_get(client, r)["status"] == "queued" for r in recs)
            assert all(_at_gp(stack, r) == set() for r in recs)
    finally:
        httpx.post(f"{stack.pds_url}/_pds/outage", json={"down_seconds": 0}).raise_for_status()
    with stack.client() as client:
        for rec, ods in zip(recs, practices, strict=True):
            body = _delivered(client, rec, timeout=120)
            assert body["practice_ods"] == ods
            assert _at_gp(stack, rec) == {ods}


def test_every_pds_request_carries_a_fresh_uuid_request_id(stack: Stack) -> None:
    with stack.client() as client:
        _delivered(client, _submit(client, canned.registered_at("Y00006"), None))
    seen = httpx.get(f"{stack.pds_url}/_pds/requests", timeout=5).json()
    ids = [entry["x-request-id"] for entry in seen]
    assert ids
    assert len(ids) == len(set(ids))
    assert all(str(uuid.UUID(value)) == value for value in ids)
    assert all(entry["x-correlation-id"] for entry in seen)
    assert {entry["nhsd-end-user-organisation-ods"] for entry in seen} == {"RX3"}


@pytest.mark.services
def test_services_profile_routes_by_the_practice_pds_names(
    tmp_path: Path, postgres_url: str, redis_broker_url: str
) -> None:
    running = Stack(workdir=tmp_path, database_url=postgres_url, broker_url=redis_broker_url)
    try:
        running.start()
        with running.client() as client:
            unnamed = _submit(client, canned.registered_at("Y00003"), None)
            stale = _submit(client, canned.MOVER, "Y00002")
            unknown = _submit(client, canned.UNKNOWN, "Y00001")
            assert _delivered(client, unnamed)["practice_ods"] == "Y00003"
            corrected = _delivered(client, stale)
            assert corrected["practice_ods"] == "Y00001"
            assert corrected["routing"]["corrected"]
            assert _delivered(client, unknown)["status"] == "identity-mismatch"
        assert _at_gp(running, unnamed) == {"Y00003"}
        assert _at_gp(running, stale) == {"Y00001"}
        assert _at_gp(running, unknown) == set()
    finally:
        running.stop()
