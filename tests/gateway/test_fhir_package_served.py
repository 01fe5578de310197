"""/fhir serves Liaison's profiles with the snapshots of the FHIR package the deployment
wrote (`liaison fhir-package`, LIAISON_FHIR__PACKAGE_DIR), and every resource it serves claims
profiles that exist: in that package or in the official UK Core package."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fhir_profiles.conformance import definitions, thaw
from fhir_profiles.fhir_package import write_package
from fhir_profiles.ukcore.check import conformance_issues
from gateway.cli import sample_recommendation
from gateway.settings import FhirSettings
from tests.fhir_profiles.fhir_package_sources import package
from tests.fhir_profiles.ukcore_package import ukcore, ukcore_folder
from tests.gateway.fhir_samples import module_api

Resource = dict[str, Any]
RECOMMENDATION = "Liaison-MedicationRequest-Recommendation"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_package(tmp_path_factory.mktemp("package"), package())


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Iterator[TestClient]:
    with module_api(tmp_path_factory.mktemp("fhir"), fhir=FhirSettings(package_dir=folder)) as (
        client,
        _,
    ):
        yield client


def _get(api: TestClient, path: str, **params: Any) -> Resource:
    response = api.get(path, params=params) if params else api.get(path)
    assert response.status_code == 200, response.text
    body: Resource = response.json()
    return body


def test_a_profile_is_read_with_its_snapshot(api: TestClient) -> None:
    served = _get(api, f"/fhir/StructureDefinition/{RECOMMENDATION}")
    published = package()[f"StructureDefinition-{RECOMMENDATION}.json"]
    assert served["snapshot"] == published["snapshot"]
    own = thaw(definitions().read("StructureDefinition", RECOMMENDATION))
    assert served["differential"] == own["differential"]
    ids = {element["id"] for element in served["snapshot"]["element"]}
    assert "MedicationRequest.subject.identifier.system" in ids


def test_every_profile_found_by_search_has_its_snapshot(api: TestClient) -> None:
    found = _get(api, "/fhir/StructureDefinition")
    assert found["total"] == len(definitions().by_type["StructureDefinition"])
    for entry in found["entry"]:
        profile = entry["resource"]
        assert profile["snapshot"]["element"][0]["id"] == profile["type"], profile["id"]


def test_a_package_written_from_another_version_of_a_profile_is_not_served(
    tmp_path: Path,
) -> None:
    files = json.loads(json.dumps(package()))
    stale = files["StructureDefinition-Liaison-Task-Fulfilment.json"]
    stale["differential"]["element"][1]["short"] = "what an older version said"
    folder = write_package(tmp_path / "stale", files)
    with module_api(tmp_path, fhir=FhirSettings(package_dir=folder)) as (client, _):
        task = _get(client, "/fhir/StructureDefinition/Liaison-Task-Fulfilment")
        recommendation = _get(client, f"/fhir/StructureDefinition/{RECOMMENDATION}")
    assert "snapshot" not in task
    assert (
        task["differential"]
        == thaw(definitions().read("StructureDefinition", "Liaison-Task-Fulfilment"))[
            "differential"
        ]
    )
    assert "snapshot" in recommendation


def _uk_core_urls() -> set[str]:
    pattern = re.compile(r'<url value="([^"]+)"')
    files = (ukcore_folder() / "structuredefinitions").glob("*.xml")
    return {match.group(1) for path in files for match in pattern.finditer(path.read_text())}


def _claimed(resource: Resource) -> Iterator[tuple[str, list[str]]]:
    yield resource["resourceType"], resource.get("meta", {}).get("profile", [])
    for inner in resource.get("contained", ()):
        yield from _claimed(inner)


def test_every_served_resource_claims_profiles_that_exist(api: TestClient) -> None:
    accepted = api.post("/v1/recommendations", json=sample_recommendation("Y00001"))
    assert accepted.status_code == 202, accepted.text
    recommendation_id = accepted.json()["id"]
    known = _uk_core_urls() | {
        body["url"]
        for body in package().values()
        if body.get("resourceType") == "StructureDefinition"
    }
    statement = _get(api, "/fhir/metadata")
    served: list[Resource] = []
    for kind in statement["rest"][0]["resource"]:
        resource_type = kind["type"]
        if resource_type in ("StructureDefinition", "CodeSystem", "ValueSet", "ConceptMap"):
            continue  # the definitions themselves
        params = {"entity": recommendation_id} if resource_type == "AuditEvent" else {}
        searchset = _get(api, f"/fhir/{resource_type}", **params)
        assert searchset["entry"], resource_type
        served += [searchset, *(entry["resource"] for entry in searchset["entry"])]
    task = next(r for r in served if r["resourceType"] == "Task")
    served.append(_get(api, f"/fhir/Task/{task['id']}/_history"))
    missing = api.get("/fhir/Task/not-there")
    assert missing.status_code == 404
    served.append(missing.json())
    claims = [claim for resource in served for claim in _claimed(resource)]
    assert {"MedicationRequest", "Task", "AuditEvent", "OperationOutcome", "Bundle"} <= {
        t for t, _ in claims
    }
    bundles = [r for r in served if r["resourceType"] == "Bundle"]
    for bundle in bundles:  # searchsets and a history, as served: UK Core's Bundle rules hold
        assert conformance_issues(bundle, ukcore()) == [], bundle["type"]
    for resource_type, profiles in claims:
        assert profiles, f"{resource_type} claims no profile"
        assert [p for p in profiles if p.split("|", 1)[0] not in known] == [], resource_type
