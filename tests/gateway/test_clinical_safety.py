"""Clinical-safety flags end to end: someone on clozapine gets a DetectedIssue, the GP summary
opens with it, and the care team is emailed the monitoring advice; sertraline alone raises
nothing."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fhir_profiles import systems
from fhir_profiles.imported_codes import ImportedCode, ImportedCodes
from fhir_profiles.validation import resource_issues
from gateway.cli import app as cli
from gateway.cli import sample_recommendation
from gateway.settings import Settings, get_settings
from gateway.store.migrate import upgrade
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
from workers import delivery as delivery_worker

Resource = dict[str, Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    with module_api(tmp_path_factory.mktemp("safety")) as running:
        yield running


@pytest.fixture
def api(served: tuple[TestClient, Settings]) -> TestClient:
    return served[0]


def _submit(api: TestClient, **changes: Any) -> Resource:
    response = api.post("/v1/recommendations", json={**sample_recommendation("Y00001"), **changes})
    assert response.status_code == 202, response.text
    accepted: Resource = response.json()
    return accepted


def _read(api: TestClient, url: str) -> Resource:
    response = api.get(url)
    assert response.status_code == 200
    body: Resource = response.json()
    return body


def _notifications(api: TestClient, recommendation_id: str) -> list[Resource]:
    found: list[Resource] = _read(api, f"/v1/recommendations/{recommendation_id}")["notifications"]
    return found


def test_clozapine_raises_the_flag_the_gp_reads_first_and_the_care_team_hears(
    api: TestClient,
) -> None:
    accepted = _submit(api)  # the sample takes clozapine and names a psychiatrist
    links = accepted["links"]["fhir"]
    issue = _read(api, links["DetectedIssue"])
    request = _read(api, links["MedicationRequest"])
    summary = _read(api, links["CommunicationRequest"])["payload"][0]["contentString"]

    assert resource_issues(issue) == []
    assert issue["severity"] == "high"
    assert "baseline clozapine level" in issue["detail"]
    assert request["detectedIssue"] == [
        {"reference": f"DetectedIssue/{issue['id']}", "type": "DetectedIssue"}
    ]
    assert summary.startswith("CLINICAL SAFETY (high priority)")
    assert "Dr Jo Okafor (jo.okafor@example.nhs.uk)" in summary
    care_team = [n for n in _notifications(api, accepted["id"]) if n["recipient"] == "care-team"]
    assert [(n["event"], n["channel"], n["status"]) for n in care_team] == [
        ("clinical-safety-flag", "email", "pending")
    ]


def test_sertraline_alone_raises_nothing(api: TestClient) -> None:
    accepted = _submit(api, current_medications=[{"name": "Sertraline 50mg daily"}])
    assert "DetectedIssue" not in accepted["links"]["fhir"]
    request = _read(api, accepted["links"]["fhir"]["MedicationRequest"])
    assert "detectedIssue" not in request
    summary = _read(api, accepted["links"]["fhir"]["CommunicationRequest"])["payload"][0]
    assert not summary["contentString"].startswith("CLINICAL SAFETY")
    assert not [n for n in _notifications(api, accepted["id"]) if n["recipient"] == "care-team"]


def test_without_a_care_team_the_flag_still_stands_and_the_record_says_who_was_not_told(
    api: TestClient,
) -> None:
    body = sample_recommendation("Y00001")
    del body["care_team"]
    response = api.post("/v1/recommendations", json=body)
    assert response.status_code == 202
    accepted = response.json()
    assert "DetectedIssue" in accepted["links"]["fhir"]
    summary = _read(api, accepted["links"]["fhir"]["CommunicationRequest"])["payload"][0]
    assert "No care-team contact was given" in summary["contentString"]
    (told,) = [n for n in _notifications(api, accepted["id"]) if n["recipient"] == "care-team"]
    assert told["status"] == "suppressed"


def test_a_brand_name_through_the_fhir_intake_is_flagged_too(api: TestClient) -> None:
    created = api.post("/fhir/MedicationRequest", json=submission("P-safety")).json()
    assert created["detectedIssue"]
    issue = _read(api, "/fhir/" + created["detectedIssue"][0]["reference"])
    assert issue["implicated"][1]["display"] == "Clozaril 300mg daily"
    assert issue["contained"][0]["code"]["text"] == "Clozaril 300mg daily"


def test_a_coded_current_medicine_matches_through_codes_the_deployment_imported(
    api: TestClient,
) -> None:
    # Synthetic ids standing for what `liaison catalogue import` loads from a dm+d release.
    codes = ImportedCodes.of(
        [
            ImportedCode("safety-rule", "clozapine", "990000021", "Clozapine 25mg tablets", "TEST"),
            ImportedCode(
                "product", "varenicline-1mg-tablets", "990000022", "Varenicline 1mg tablets", "TEST"
            ),
        ]
    )
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        uow.catalogue_codes.replace_all(codes, now=datetime.now(UTC))
        uow.commit()
    try:
        coded = [{"name": "CLZ 25", "code": {"system": systems.DMD, "code": "990000021"}}]
        accepted = _submit(api, current_medications=coded)
        assert "DetectedIssue" in accepted["links"]["fhir"]
        request = _read(api, accepted["links"]["fhir"]["MedicationRequest"])
        assert request["medicationCodeableConcept"]["coding"][0] == {
            "system": systems.DMD,
            "version": "TEST",
            "code": "990000022",
            "display": "Varenicline 1mg tablets",
        }
    finally:
        with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
            uow.catalogue_codes.replace_all(ImportedCodes(), now=datetime.now(UTC))
            uow.commit()


def test_the_v1_body_refuses_a_malformed_care_team_or_medicine_code(api: TestClient) -> None:
    bad_team = {**sample_recommendation("Y00001")["care_team"][0], "email": "not-an-email"}
    response = api.post(
        "/v1/recommendations", json={**sample_recommendation("Y00001"), "care_team": bad_team}
    )
    assert response.status_code == 422
    # The single-member form reads as a list of one, so the member is named by position.
    assert response.json()["errors"][0]["field"] == "care_team[0].email"
    bad_code = [{"name": "x", "code": {"system": systems.DMD, "code": "12ab"}}]
    response = api.post(
        "/v1/recommendations",
        json={**sample_recommendation("Y00001"), "current_medications": bad_code},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "current_medications[0].code.code"


# --- the care team's email, through the real SMTP sink --------------------------------


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


def test_the_care_team_receives_the_monitoring_advice_and_the_practice_the_flag(
    tmp_path: Path, peers: Peers
) -> None:
    peers.reset()
    rt = make_runtime(f"sqlite:///{tmp_path}/care-team.db", peers)
    recommendation_id = submit(rt)
    ids = queued_notifications(rt)
    assert "sent" in run_notify_tasks(rt, ids)
    (mail,) = [m for m in peers.mail.messages() if "jo.okafor@example.nhs.uk" in m.rcpt_tos]
    assert mail.subject.startswith("Clinical safety")
    for advice in ("baseline clozapine level", "75 %", "hypersalivation", recommendation_id):
        assert advice in mail.body
    assert "alex.morgan@example.nhs.uk" in mail.body  # who to ask about the service user
    # The service user is not named to a contact the practitioner typed in.
    assert "Sam" not in mail.body
    assert "9434765919" not in mail.body.replace(" ", "")

    # The flag travels to the practice with the request, in the same transaction Bundle.
    with UnitOfWork(rt.session_factory) as uow:
        (delivery_id,) = [d.id for d in uow.deliveries.for_recommendation(recommendation_id)]
    assert delivery_worker.deliver(rt, delivery_id) == "delivered"
    received = {r["type"] for r in peers.simulator_received()}
    assert received == {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "MedicationRequest",
        "CommunicationRequest",
        "Task",
        "DetectedIssue",
    }


# --- loading codes from a dm+d release ------------------------------------------------


def test_catalogue_import_loads_codes_from_a_release_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path}/codes.db"
    monkeypatch.setenv("LIAISON_DATABASE__URL", database)
    monkeypatch.setenv("LIAISON_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()  # the CLI reads settings from the environment
    upgrade(database)
    release = tmp_path / "nhsbsa_dmd_test"
    release.mkdir()
    # Synthetic ids in NHSBSA's file layout; not real dm+d codes.
    (release / "f_vtm2_0000001.xml").write_text(
        "<VIRTUAL_THERAPEUTIC_MOIETIES><VTM><VTMID>990000101</VTMID><NM>Clozapine</NM></VTM>"
        "</VIRTUAL_THERAPEUTIC_MOIETIES>"
    )
    (release / "f_vmp2_0000001.xml").write_text(
        "<VIRTUAL_MED_PRODUCTS><VMPS><VMP><VPID>990000202</VPID>"
        "<NM>Varenicline 1mg tablets</NM></VMP></VMPS></VIRTUAL_MED_PRODUCTS>"
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["catalogue", "import", str(release)])
    assert result.exit_code == 0, result.output
    assert "imported 1 product codes and 1 clinical-safety codes" in result.output
    assert "nicotine-2mg-gum" in result.output  # unmatched products are listed
    listed = runner.invoke(cli, ["catalogue", "list"])
    assert (
        "varenicline-1mg-tablets\tVarenicline 1mg tablets\tdm+d 990000202 from dm+d release 0000001"
        in listed.output
    )
    missing = runner.invoke(cli, ["catalogue", "import", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    get_settings.cache_clear()
