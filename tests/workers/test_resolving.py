"""Routing by the registered practice, through the real delivery worker: PDS and ODS
stand-ins and the GP simulator over HTTP, a real database. Each test fails without the
resolve step (deliveries would go to the practice given, or nowhere)."""

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.standins.ods import create_app as create_ods
from adapters.standins.pds import create_app as create_pds
from adapters.standins.pds import patients as canned
from fhir_profiles import systems
from gateway.api.v1.schemas import RecommendationIn
from gateway.cli import sample_recommendation
from gateway.services import intake
from gateway.settings import OdsSettings, PdsSettings
from gateway.store.models import ChaseUp
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import Peers, make_runtime, running_peers, serve
from workers import chasing, delivery
from workers.runtime import Runtime, ods_factory, pds_factory


@pytest.fixture(scope="module")
def peers() -> Iterator[tuple[Peers, str, str]]:
    with running_peers() as gp, serve(create_pds()) as pds, serve(create_ods()) as ods:
        yield gp, pds, ods


@pytest.fixture
def rt(tmp_path: Path, peers: tuple[Peers, str, str]) -> Runtime:
    gp, pds, ods = peers
    gp.reset()
    runtime = make_runtime(
        f"sqlite:///{tmp_path}/r.db",
        gp,
        pds=PdsSettings(
            base_url=f"{pds}/personal-demographics/FHIR/R4",
            retry_base_seconds=0.01,
            retry_cap_seconds=0.02,
        ),
        ods=OdsSettings(base_url=f"{ods}/ORD/2-0-0"),
    )
    return replace(runtime, pds=pds_factory(runtime.settings), ods=ods_factory(runtime.settings))


def _submit(rt: Runtime, nhs_number: str, gp_practice: str | None, **user: Any) -> str:
    body = sample_recommendation("Y00001")
    body["service_user"] = {**body["service_user"], "nhs_number": nhs_number, **user}
    body["gp_practice"] = {"ods_code": gp_practice} if gp_practice else None
    payload = RecommendationIn.model_validate(body).model_dump(mode="json")
    with UnitOfWork(rt.session_factory) as uow:
        result = intake.submit(
            uow,
            intake.IntakeCommand(
                "demo-app", "RX3", None, payload, registered_practice_from_pds=True
            ),
            now=datetime.now(UTC),
        )
    return result.recommendation_id


def _deliver(rt: Runtime, recommendation_id: str) -> str:
    with UnitOfWork(rt.session_factory) as uow:
        (found,) = uow.deliveries.for_recommendation(recommendation_id)
        delivery_id = found.id
    return delivery.deliver(rt, delivery_id)


def _state(rt: Runtime, recommendation_id: str) -> dict[str, Any]:
    with UnitOfWork(rt.session_factory) as uow:
        rec = uow.recommendations.get(recommendation_id)
        assert rec is not None
        (found,) = uow.deliveries.for_recommendation(recommendation_id)
        # No resources until the practice is known: they are built addressed to it.
        task = next(
            (
                r.body
                for r in uow.recommendations.resources_for(rec.id)
                if r.resource_type == "Task"
            ),
            {"for": {"identifier": {"value": None}}},
        )
        return {
            "status": rec.status,
            "practice": rec.practice_ods,
            "delivery_state": found.state,
            "delivery_practice": found.practice_ods,
            "routing": rec.payload.get("routing"),
            "timeline": [(e.status, e.detail) for e in uow.recommendations.timeline(rec.id)],
            "events": {n.event for n in uow.notifications.for_recommendation(rec.id)},
            "task_owner": (task.get("owner") or {}).get("identifier", {}).get("value"),
            "task_for": task["for"]["identifier"]["value"],
        }


def test_without_gp_practice_the_request_goes_to_the_practice_pds_names(rt: Runtime) -> None:
    rec = _submit(rt, canned.registered_at("Y00002"), None)
    assert _state(rt, rec)["practice"] is None
    assert _deliver(rt, rec) == "delivered"
    state = _state(rt, rec)
    assert state["status"] == "delivered"
    assert state["delivery_practice"] == state["practice"] == "Y00002"
    assert state["task_owner"] == "Y00002"
    assert state["routing"]["name"] == "HILLTOP SURGERY"
    assert not state["routing"]["corrected"]


def test_a_stale_ods_code_is_corrected_to_the_registered_practice(rt: Runtime) -> None:
    rec = _submit(rt, canned.MOVER, "Y00003")  # PDS registers them at Y00001
    assert _deliver(rt, rec) == "delivered"
    state = _state(rt, rec)
    assert state["delivery_practice"] == "Y00001"
    assert state["task_owner"] == "Y00001"
    assert state["routing"]["corrected"]
    assert state["routing"]["given_ods_code"] == "Y00003"
    assert any(d and "not Y00003 as given" in d for _, d in state["timeline"])
    assert "practice-corrected" in state["events"]


def test_a_birth_date_that_differs_from_pds_stops_before_anything_is_sent(
    rt: Runtime, peers: tuple[Peers, str, str]
) -> None:
    rec = _submit(rt, canned.registered_at("Y00001"), "Y00001", birth_date="1980-01-01")
    assert _deliver(rt, rec) == "stopped"
    state = _state(rt, rec)
    assert state["status"] == "identity-mismatch"
    assert state["delivery_state"] == "stopped"
    assert "identity-mismatch" in state["events"]
    detail = dict(state["timeline"])["identity-mismatch"]
    assert "birth date" in detail
    assert "1980" not in detail
    assert "1974" not in detail
    assert peers[0].simulator_received() == []


@pytest.mark.parametrize(
    ("nhs_number", "status", "words"),
    [
        (canned.UNKNOWN, "identity-mismatch", "no patient"),
        (canned.DECEASED, "no-usable-practice", "deceased"),
        (canned.RESTRICTED, "no-usable-practice", "restricted"),
        (canned.AT_CLOSED_PRACTICE, "no-usable-practice", "closed and names no successor"),
    ],
)
def test_no_usable_identity_or_practice_ends_with_its_reason_and_the_practitioner_told(
    rt: Runtime, peers: tuple[Peers, str, str], nhs_number: str, status: str, words: str
) -> None:
    rec = _submit(rt, nhs_number, None)
    assert _deliver(rt, rec) == "stopped"
    state = _state(rt, rec)
    assert state["status"] == status
    assert words in dict(state["timeline"])[status]
    assert status in state["events"]
    assert peers[0].simulator_received() == []


def test_a_closed_practice_with_a_successor_in_ods_sends_to_the_successor(rt: Runtime) -> None:
    rec = _submit(rt, canned.AT_MERGED_PRACTICE, None)
    assert _deliver(rt, rec) == "delivered"
    state = _state(rt, rec)
    assert state["delivery_practice"] == "Y00001"
    assert any("Y00901 as closed" in note for note in state["routing"]["notes"])


def test_a_superseded_number_is_replaced_by_the_current_one_in_the_request(rt: Runtime) -> None:
    rec = _submit(rt, canned.SUPERSEDED, None)
    assert _deliver(rt, rec) == "delivered"
    assert _state(rt, rec)["task_for"] == canned.SUPERSEDED_BY


def test_with_pds_down_the_delivery_waits_and_goes_once_pds_is_back(
    rt: Runtime, peers: tuple[Peers, str, str]
) -> None:
    pds_url = peers[1]
    httpx.post(f"{pds_url}/_pds/outage", json={"down_seconds": 600}).raise_for_status()
    try:
        rec = _submit(rt, canned.registered_at("Y00003"), None)
        assert _deliver(rt, rec) == "waiting"
        state = _state(rt, rec)
        assert state["delivery_state"] == "retrying"
        assert state["practice"] is None
        assert peers[0].simulator_received() == []
    finally:
        httpx.post(f"{pds_url}/_pds/outage", json={"down_seconds": 0}).raise_for_status()
    outcome = "waiting"
    for _ in range(50):  # the backoff here is tens of milliseconds
        outcome = _deliver(rt, rec)
        if outcome != "waiting" and outcome != "skipped":
            break
    assert outcome == "delivered"
    assert _state(rt, rec)["delivery_practice"] == "Y00003"


def test_before_a_chase_up_a_re_registered_service_user_is_followed_to_the_new_practice(
    rt: Runtime, peers: tuple[Peers, str, str]
) -> None:
    rec = _submit(rt, canned.MOVER, None)
    assert _deliver(rt, rec) == "delivered"
    pds_url = peers[1]
    moved = f"{pds_url}/_pds/patients/{canned.MOVER}/registration"
    httpx.put(moved, json={"ods_code": "Y00003"}).raise_for_status()
    try:
        with UnitOfWork(rt.session_factory) as uow:
            chase = ChaseUp(
                id=str(uuid.uuid4()),
                recommendation_id=rec,
                practice_ods="Y00001",
                number=1,
                state="pending",
                attempt_count=0,
                created_at=datetime.now(UTC),
            )
            assert uow.follow_ups.add_chase_up(chase)
            uow.commit()
        assert chasing.send_chase_up(rt, chase.id) == "moved"
    finally:
        httpx.put(moved, json={"ods_code": "Y00001"}).raise_for_status()
    with UnitOfWork(rt.session_factory) as uow:
        stopped = uow.follow_ups.get_chase_up(chase.id)
        assert stopped is not None
        assert stopped.state == "stopped"
        deliveries = uow.deliveries.for_recommendation(rec)
        requests = sorted(d.practice_ods or "" for d in deliveries if d.purpose == "request")
        assert requests == ["Y00001", "Y00003"]
        second_id = next(d.id for d in deliveries if d.practice_ods == "Y00003")
        # The old practice is told the request no longer stands there.
        (withdrawal,) = [d for d in deliveries if d.purpose == "withdrawal"]
        assert withdrawal.practice_ods == "Y00001"
        withdrawal_id = withdrawal.id
        events = {n.event for n in uow.notifications.for_recommendation(rec)}
    assert "re-registered" in events
    assert delivery.deliver(rt, second_id) == "delivered"
    received = {r["ods_code"] for r in peers[0].simulator_received() if r["type"] == "Task"}
    assert received == {"Y00001", "Y00003"}
    assert delivery.deliver(rt, withdrawal_id) == "delivered"
    base = f"http://127.0.0.1:{peers[0].simulator_port}/fhir"
    tasks = httpx.get(
        f"{base}/Task",
        params={"identifier": f"{systems.RECOMMENDATION_ID}|{rec}"},
    ).json()
    status = {
        e["resource"]["owner"]["identifier"]["value"]: e["resource"]["status"]
        for e in tasks["entry"]
    }
    assert status["Y00001"] == "cancelled"
    assert status["Y00003"] != "cancelled"


def test_a_chase_up_is_not_sent_to_a_practice_that_has_closed_without_a_successor(
    rt: Runtime, peers: tuple[Peers, str, str]
) -> None:
    rec = _submit(rt, canned.registered_at("Y00002"), None)
    assert _deliver(rt, rec) == "delivered"
    ods_url = peers[2]
    # Last in the module: the stand-in keeps Y00002 closed from here on.
    httpx.put(f"{ods_url}/_ods/organisations/Y00002/closure", json={}).raise_for_status()
    # A fresh client: the worker's cache would otherwise still hold the open practice.
    rt = replace(rt, ods=ods_factory(rt.settings))
    with UnitOfWork(rt.session_factory) as uow:
        chase = ChaseUp(
            id=str(uuid.uuid4()),
            recommendation_id=rec,
            practice_ods="Y00002",
            number=1,
            state="pending",
            attempt_count=0,
            created_at=datetime.now(UTC),
        )
        assert uow.follow_ups.add_chase_up(chase)
        uow.commit()
    received_before = len(peers[0].simulator_received())
    assert chasing.send_chase_up(rt, chase.id) == "stopped"
    assert len(peers[0].simulator_received()) == received_before
    state = _state(rt, rec)
    assert "chase-up-stopped-1" in state["events"]
    assert any(d and "closed and names no successor" in d for _, d in state["timeline"])
