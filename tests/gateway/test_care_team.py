"""A care team is a team: every member hears of a clinical-safety flag, once per address;
the old single-object form still works; a bad member is refused by name, with nothing kept."""

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fhir_profiles import systems
from gateway.cli import sample_recommendation
from gateway.services.fhir_intake import read_submission
from gateway.settings import Settings
from gateway.store.models import Recommendation
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import (
    Peers,
    make_runtime,
    queued_notifications,
    run_notify_tasks,
    running_peers,
    submit,
)
from tests.gateway.fhir_samples import module_api, submission

Resource = dict[str, Any]

TEAM: list[Resource] = [
    {"role": "care-coordinator", "name": "Pat Reid", "email": "pat.reid@example.nhs.uk"},
    {"role": "psychiatrist", "name": "Dr Jo Okafor", "email": "jo.okafor@example.nhs.uk"},
    {"role": "clozapine-clinic", "name": "Clozapine clinic", "email": "cloz.clinic@example.nhs.uk"},
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    with module_api(tmp_path_factory.mktemp("care-team")) as running:
        yield running


@pytest.fixture
def api(served: tuple[TestClient, Settings]) -> TestClient:
    return served[0]


def _post(api: TestClient, care_team: Any) -> Any:
    return api.post(
        "/v1/recommendations", json={**sample_recommendation("Y00001"), "care_team": care_team}
    )


def _care_team_notifications(api: TestClient, recommendation_id: str) -> list[Resource]:
    view = api.get(f"/v1/recommendations/{recommendation_id}").json()
    return [n for n in view["notifications"] if n["recipient"] == "care-team"]


def _recommendation_count(api: TestClient) -> int:
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        return int(uow.session.scalar(select(func.count()).select_from(Recommendation)) or 0)


def test_every_member_of_a_three_member_team_is_queued_one_flag(api: TestClient) -> None:
    response = _post(api, TEAM)
    assert response.status_code == 202, response.text
    accepted = response.json()
    told = _care_team_notifications(api, accepted["id"])
    assert [(n["event"], n["member"], n["status"]) for n in told] == [
        ("clinical-safety-flag", 0, "pending"),
        ("clinical-safety-flag", 1, "pending"),
        ("clinical-safety-flag", 2, "pending"),
    ]
    communication = api.get(accepted["links"]["fhir"]["CommunicationRequest"]).json()
    summary = communication["payload"][0]["contentString"]
    for member in TEAM:
        assert f"{member['name']} ({member['email']})" in summary
    request = api.get(accepted["links"]["fhir"]["MedicationRequest"]).json()
    roles = [
        e["extension"][0]["valueCode"]
        for e in request["extension"]
        if e["url"] == systems.EXT_CARE_TEAM_CONTACT
    ]
    assert roles == ["care-coordinator", "psychiatrist", "clozapine-clinic"]


def test_a_single_member_object_is_still_read_as_a_team_of_one(api: TestClient) -> None:
    response = _post(api, TEAM[1])
    assert response.status_code == 202, response.text
    told = _care_team_notifications(api, response.json()["id"])
    assert [(n["member"], n["status"]) for n in told] == [(0, "pending")]


def test_a_bad_member_is_refused_by_position_and_nothing_is_kept(api: TestClient) -> None:
    before = _recommendation_count(api)
    bad = copy.deepcopy(TEAM)
    bad[1]["email"] = "not-an-email"
    response = _post(api, bad)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["care_team[1].email"]
    assert "care_team[1].email" in response.json()["detail"]

    unknown_role = copy.deepcopy(TEAM)
    unknown_role[2]["role"] = "friend"
    response = _post(api, unknown_role)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "care_team[2].role"

    too_many = [{**TEAM[0], "email": f"member{n}@example.nhs.uk"} for n in range(11)]
    response = _post(api, too_many)
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "care_team",
        "detail": "care_team: at most 10 items",
    }
    assert _recommendation_count(api) == before


def test_a_fhir_submission_with_two_care_team_extensions_reads_as_two_members() -> None:
    resource = submission("P-team")
    (first,) = [e for e in resource["extension"] if e["url"] == systems.EXT_CARE_TEAM_CONTACT]
    second = copy.deepcopy(first)
    second["extension"][0]["valueCode"] = "clozapine-clinic"
    second["extension"][1]["valueContactDetail"]["telecom"][0]["value"] = "cloz@example.nhs.uk"
    resource["extension"].append(second)
    payload = read_submission(resource, organisation_ods="RX3")
    assert [(m["role"], m["email"]) for m in payload["care_team"]] == [
        ("care-coordinator", "pat.reid@example.nhs.uk"),
        ("clozapine-clinic", "cloz@example.nhs.uk"),
    ]


# --- the emails themselves, through the real SMTP sink --------------------------------


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


def _safety_mail_count(peers: Peers) -> dict[str, int]:
    counts: dict[str, int] = {}
    for mail in peers.mail.messages():
        if mail.subject.startswith("Clinical safety"):
            for address in mail.rcpt_tos:
                counts[address] = counts.get(address, 0) + 1
    return counts


def test_clozapine_with_a_three_member_team_emails_each_member_once(
    tmp_path: Path, peers: Peers
) -> None:
    peers.reset()
    rt = make_runtime(f"sqlite:///{tmp_path}/team.db", peers)
    submit(rt, care_team=TEAM)
    # Run every task twice, as a broker redelivering each would: still one email each.
    run_notify_tasks(rt, queued_notifications(rt), times=2)
    assert _safety_mail_count(peers) == {member["email"]: 1 for member in TEAM}


def test_a_team_sharing_an_address_is_told_once_per_address(tmp_path: Path, peers: Peers) -> None:
    peers.reset()
    rt = make_runtime(f"sqlite:///{tmp_path}/shared.db", peers)
    shared = [*TEAM, {**TEAM[0], "name": "Duty worker", "email": "PAT.REID@example.nhs.uk"}]
    recommendation_id = submit(rt, care_team=shared)
    run_notify_tasks(rt, queued_notifications(rt))
    assert _safety_mail_count(peers) == {member["email"]: 1 for member in TEAM}
    with UnitOfWork(rt.session_factory) as uow:
        members = [
            n.member
            for n in uow.notifications.for_recommendation(recommendation_id)
            if n.recipient == "care-team"
        ]
    assert members == [0, 1, 2]
