"""`liaison ukcore check` reports what breaks UK Core, naming the element, and exits 1."""

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fhir_profiles.builders import build_resources, build_transaction_bundle
from gateway.cli import app
from gateway.settings import get_settings
from tests.fhir_profiles.factories import make_facts
from tests.fhir_profiles.ukcore_package import ukcore_folder


def test_a_built_bundle_passes_and_a_broken_patient_fails(tmp_path: Path) -> None:
    resources = build_resources(make_facts())
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(build_transaction_bundle(resources, delivery_id="d-1")))
    broken = copy.deepcopy(resources.patient)
    assert broken is not None
    broken["identifier"] = [{"system": "https://example.org/mrn", "value": "1"}]
    bad = tmp_path / "patient.json"
    bad.write_text(json.dumps(broken))
    runner = CliRunner()
    passed = runner.invoke(app, ["ukcore", "check", str(good), "--package", str(ukcore_folder())])
    assert passed.exit_code == 0, passed.output
    assert f"{good}: ok" in passed.output
    failed = runner.invoke(app, ["ukcore", "check", str(bad), "--package", str(ukcore_folder())])
    assert failed.exit_code == 1
    assert "Patient.identifier:nhsNumber" in failed.output


def test_a_missing_package_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["ukcore", "check", str(tmp_path / "x.json"), "--package", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "structuredefinitions" in result.output


def test_without_a_package_folder_named_it_says_how_to_name_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIAISON_FHIR__UKCORE_DIR", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["ukcore", "check", str(tmp_path / "x.json")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "LIAISON_FHIR__UKCORE_DIR" in result.output
