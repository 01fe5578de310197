"""Liaison's profiles as a FHIR package: each snapshot, generated through UK Core down to base
R4, holds every element of its base, is never looser than it, and carries every rule of
Liaison's differential; package.json names the UK Core package the profiles derive from."""

import json
import re
from typing import Any

import pytest
from defusedxml import ElementTree
from typer.testing import CliRunner

from fhir_profiles import systems
from fhir_profiles.canonical import canonical_base
from fhir_profiles.conformance import definitions, thaw
from fhir_profiles.fhir_xml import FhirXmlError, to_json
from fhir_profiles.r4_definitions import R4_BASE
from fhir_profiles.r4_shape import r4_issues
from fhir_profiles.snapshots import SnapshotError, generate
from fhir_profiles.validation import resource_issues
from gateway.cli import app
from tests.fhir_profiles.fhir_package_sources import package, r4_folder, sources
from tests.fhir_profiles.ukcore_package import ukcore_folder

Json = dict[str, Any]
PROFILES = sorted(d["id"] for d in definitions().by_type["StructureDefinition"])
_UNBOUNDED = float("inf")
UKCORE = str(ukcore_folder())


def _published(profile_id: str) -> Json:
    return package()[f"StructureDefinition-{profile_id}.json"]


def _by_id(elements: list[Json]) -> dict[str, Json]:
    return {element["id"]: element for element in elements}


def _high(value: str) -> float:
    return _UNBOUNDED if value == "*" else float(value)


def _bases(profile: Json) -> list[list[Json]]:
    """The snapshots under a profile: its base's and, below a UK Core base, base R4's."""
    found = [sources().snapshot(profile["baseDefinition"])]
    if not profile["baseDefinition"].startswith(R4_BASE):
        found.append(sources().snapshot(R4_BASE + profile["type"]))
    return found


@pytest.mark.parametrize("profile_id", PROFILES)
def test_a_profile_derives_from_uk_core_where_uk_core_profiles_its_type(profile_id: str) -> None:
    profile = _published(profile_id)
    uk_core = f"https://fhir.hl7.org.uk/StructureDefinition/UKCore-{profile['type']}"
    if uk_core in sources().ukcore_urls():
        assert profile["baseDefinition"] == uk_core
    else:  # no UK Core profile of the type (CommunicationRequest, DetectedIssue, Extension)
        assert profile["baseDefinition"] == R4_BASE + profile["type"]


@pytest.mark.parametrize("profile_id", PROFILES)
def test_a_published_profile_is_a_valid_r4_structure_definition(profile_id: str) -> None:
    profile = _published(profile_id)
    assert resource_issues(profile) == []
    assert r4_issues(profile) == []


@pytest.mark.parametrize("profile_id", PROFILES)
def test_snapshot_holds_every_element_of_every_base(profile_id: str) -> None:
    profile = _published(profile_id)
    ids = {element["id"] for element in profile["snapshot"]["element"]}
    for base in _bases(profile):
        assert [e["id"] for e in base if e["id"] not in ids] == []


@pytest.mark.parametrize("profile_id", PROFILES)
def test_snapshot_cardinality_is_never_looser_than_a_base(profile_id: str) -> None:
    profile = _published(profile_id)
    mine = _by_id(profile["snapshot"]["element"])
    for base in _bases(profile):
        for element in base:
            made = mine[element["id"]]
            assert made["min"] >= element["min"], element["id"]
            assert _high(made["max"]) <= _high(element["max"]), element["id"]
    for element in mine.values():  # and never looser than the R4 definition it started from
        assert element["min"] >= element["base"]["min"], element["id"]
        assert _high(element["max"]) <= _high(element["base"]["max"]), element["id"]


@pytest.mark.parametrize("profile_id", PROFILES)
def test_snapshot_carries_every_rule_of_the_differential(profile_id: str) -> None:
    profile = _published(profile_id)
    mine = _by_id(profile["snapshot"]["element"])
    assert (
        profile["differential"]
        == thaw(definitions().read("StructureDefinition", profile_id))["differential"]
    )
    for rule in profile["differential"]["element"]:
        made = mine[rule["id"]]
        for key, value in rule.items():
            if key == "constraint":
                assert {c["key"] for c in value} <= {c["key"] for c in made["constraint"]}
            else:
                assert made[key] == value, (rule["id"], key)


def test_uk_core_rules_reach_liaison_s_patient_through_its_base() -> None:
    mine = _by_id(_published("Liaison-Patient-ServiceUser")["snapshot"]["element"])
    nhs_number = mine["Patient.identifier:nhsNumber"]
    assert (nhs_number["min"], nhs_number["max"]) == (1, "1")  # Liaison: 1..1
    assert mine["Patient.identifier:nhsNumber.system"]["fixedUri"] == systems.NHS_NUMBER  # UKC
    status = mine["Patient.identifier:nhsNumber.extension:nhsNumberVerificationStatus"]
    assert status["type"][0]["profile"] == [
        "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
    ]
    language = mine["Patient.communication.language"]["binding"]  # UK Core, below a backbone
    assert (language["strength"], language["valueSet"]) == (
        "required",
        "http://hl7.org/fhir/ValueSet/all-languages",
    )


def test_recommendation_snapshot_unrolls_the_nhs_number_reference() -> None:
    mine = _by_id(_published("Liaison-MedicationRequest-Recommendation")["snapshot"]["element"])
    system = mine["MedicationRequest.subject.identifier.system"]
    assert system["fixedUri"] == systems.NHS_NUMBER
    assert system["base"]["path"] == "Identifier.system"
    assert mine["MedicationRequest.extension:medicationRepeatInformation"]  # from UK Core
    assert mine["MedicationRequest.substitution"]["min"] == 1  # UK Core's 1..1, kept


def test_every_uk_core_profile_gets_a_snapshot_holding_its_base_and_its_differential() -> None:
    # The generator covers all of UK Core, not only the profiles Liaison derives from today.
    for url in sorted(sources().ukcore_urls()):
        definition = sources().ukcore_definition(url)
        assert definition is not None
        ids = {element["id"] for element in sources().snapshot(url)}
        base = sources().snapshot(definition["baseDefinition"])
        assert [e["id"] for e in base if e["id"] not in ids] == [], url
        rules = definition["differential"]["element"]
        assert [r["id"] for r in rules if r["id"] not in ids] == [], url


def test_fhir_xml_reads_arrays_numbers_and_attributes_as_r4_defines_them() -> None:
    xml = (
        '<element xmlns="http://hl7.org/fhir" id="Observation.code">'
        '<extension url="http://example.org/ext"><valueString value="x"/></extension>'
        '<path value="Observation.code"/><min value="1"/><mustSupport value="true"/>'
        '<type><code value="CodeableConcept"/></type>'
        '<patternCodeableConcept><coding><system value="http://snomed.info/sct"/>'
        '<code value="710081004"/></coding></patternCodeableConcept></element>'
    )
    element = to_json(ElementTree.fromstring(xml), "ElementDefinition", sources().r4)
    assert element == {
        "id": "Observation.code",
        "extension": [{"url": "http://example.org/ext", "valueString": "x"}],
        "path": "Observation.code",
        "min": 1,
        "mustSupport": True,
        "type": [{"code": "CodeableConcept"}],
        "patternCodeableConcept": {
            "coding": [{"system": "http://snomed.info/sct", "code": "710081004"}]
        },
    }
    with pytest.raises(FhirXmlError, match=re.escape("ElementDefinition.colour")):
        to_json(
            ElementTree.fromstring(
                '<element xmlns="http://hl7.org/fhir"><colour value="red"/></element>'
            ),
            "ElementDefinition",
            sources().r4,
        )


def _base_patient() -> list[Json]:
    return sources().snapshot(R4_BASE + "Patient")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"id": "Patient.gender", "path": "Patient.gender", "max": "2"}, "max 2 is looser"),
        (
            {"id": "Patient.name", "path": "Patient.name", "type": [{"code": "string"}]},
            "type ['string'] not in the base",
        ),
        (
            {"id": "Patient.nickname", "path": "Patient.nickname", "min": 1},
            "Patient.nickname: not an element of the base",
        ),
        (
            {
                "id": "Patient.gender",
                "path": "Patient.gender",
                "binding": {"strength": "preferred", "valueSet": "http://example.org/vs"},
            },
            "required binding cannot become preferred",
        ),
    ],
)
def test_a_differential_that_loosens_or_invents_is_refused(change: Json, named: str) -> None:
    with pytest.raises(SnapshotError, match=re.escape(named)):
        generate(_base_patient(), [{"id": "Patient", "path": "Patient"}, change], sources().r4)


def test_a_slice_starts_optional_after_the_sliced_element_s_other_slices() -> None:
    made = generate(
        _base_patient(),
        [
            {"id": "Patient.identifier:a", "path": "Patient.identifier", "sliceName": "a"},
            {"id": "Patient.identifier:b.value", "path": "Patient.identifier.value", "min": 1},
        ],
        sources().r4,
    )
    ids = [e["id"] for e in made]
    assert ids.index("Patient.identifier") < ids.index("Patient.identifier:a")
    assert ids.index("Patient.identifier:a") < ids.index("Patient.identifier:b")
    assert ids.index("Patient.identifier:b.value") < ids.index("Patient.active")
    assert _by_id(made)["Patient.identifier:b"]["min"] == 0
    assert _by_id(made)["Patient.identifier:b.value"]["min"] == 1


def test_package_json_depends_on_r4_and_the_uk_core_package() -> None:
    manifest = package()["package.json"]
    ukcore = json.loads((ukcore_folder() / "package.json").read_text())
    assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*", manifest["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert manifest["fhirVersions"] == ["4.0.1"]
    assert manifest["canonical"] == canonical_base()
    assert manifest["dependencies"] == {
        "hl7.fhir.r4.core": "4.0.1",
        ukcore["name"]: ukcore["version"],
    }
    for key in ("description", "author"):
        assert manifest[key]


def test_package_index_lists_every_resource_with_its_url() -> None:
    files = package()
    index = files[".index.json"]
    assert index["index-version"] == 1
    listed = {entry["filename"]: entry for entry in index["files"]}
    resources = {name: body for name, body in files.items() if not name.startswith(".")}
    resources.pop("package.json")
    assert set(listed) == set(resources)
    for name, body in resources.items():
        assert listed[name]["url"] == body["url"]
        assert name == f"{body['resourceType']}-{body['id']}.json"
    assert len(resources) == sum(len(v) for v in definitions().by_type.values())


def test_fhir_package_command_writes_the_package(tmp_path: Any) -> None:
    result = CliRunner().invoke(
        app,
        ["fhir-package", "--out", str(tmp_path), "--r4", str(r4_folder()), "--ukcore", UKCORE],
    )
    assert result.exit_code == 0, result.output
    written = tmp_path / "package"
    assert json.loads((written / "package.json").read_text()) == package()["package.json"]
    profile = json.loads((written / "StructureDefinition-Liaison-Task-Fulfilment.json").read_text())
    assert profile == _published("Liaison-Task-Fulfilment")


def test_fhir_package_command_names_a_missing_r4_folder(tmp_path: Any) -> None:
    result = CliRunner().invoke(
        app,
        ["fhir-package", "--out", str(tmp_path), "--r4", str(tmp_path), "--ukcore", UKCORE],
    )
    assert result.exit_code == 2
    assert "profiles-types.json" in result.output
    assert not (tmp_path / "package").exists()
