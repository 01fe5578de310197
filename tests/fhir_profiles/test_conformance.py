"""Liaison's published definitions: each is valid R4, points only at things that exist, and
derives from what it says it derives from."""

import json
from importlib import resources
from typing import Any

import pytest

from fhir_profiles import systems
from fhir_profiles.canonical import with_canonical
from fhir_profiles.conformance import definitions, thaw
from fhir_profiles.profiles import all_profiles, profile
from fhir_profiles.r4_shape import r4_issues
from fhir_profiles.terminology import expand
from fhir_profiles.validation import resource_issues

_FILES = sorted(
    entry.name
    for entry in resources.files("fhir_profiles.definitions").iterdir()
    if entry.name.endswith(".json")
)
_CONFORMANCE = [name for name in _FILES if name.split("-", 1)[0] in {
    "StructureDefinition", "CodeSystem", "ValueSet", "ConceptMap"
}]  # fmt: skip
_BASES = {
    "http://hl7.org/fhir/StructureDefinition/Extension",
    "http://hl7.org/fhir/StructureDefinition/CommunicationRequest",
    "http://hl7.org/fhir/StructureDefinition/DetectedIssue",
    systems.UKCORE_MEDICATION_REQUEST,
    systems.UKCORE_TASK,
    systems.UKCORE_PATIENT,
}


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(with_canonical(_text(name)))
    return loaded


def _text(name: str) -> str:
    return (resources.files("fhir_profiles.definitions") / name).read_text("utf-8")


@pytest.mark.parametrize("name", _FILES)
def test_definition_files_name_liaison_urls_only_through_the_placeholder(name: str) -> None:
    # A deployment's canonical base replaces the placeholder as the files load; a URL written
    # out in full would escape it (and name a host the deployment does not own).
    text = _text(name)
    assert "liaison.example" not in text
    assert systems.LIAISON_CANONICAL not in text


@pytest.mark.parametrize("name", _CONFORMANCE)
def test_each_definition_is_valid_r4_and_r4b(name: str) -> None:
    resource = _load(name)
    assert resource_issues(resource) == []
    assert r4_issues(resource) == []
    assert name == f"{resource['resourceType']}-{resource['id']}.json"
    assert resource["url"].startswith(systems.LIAISON_CANONICAL)


@pytest.mark.parametrize("name", [n for n in _CONFORMANCE if n.startswith("StructureDefinition")])
def test_profiles_are_r4_constraints_on_uk_core_base_r4_or_each_other(name: str) -> None:
    structure = _load(name)
    assert structure["fhirVersion"] == "4.0.1"
    assert structure["derivation"] == "constraint"
    base = structure["baseDefinition"]
    assert base in _BASES or definitions().get(base) is not None
    assert structure.get("purpose"), "each profile says why it exists"


def test_every_canonical_a_profile_points_at_exists() -> None:
    missing = set()
    for structure in definitions().by_type["StructureDefinition"]:
        for element in structure["differential"]["element"]:
            urls = [element.get("binding", {}).get("valueSet")]
            for type_ in element.get("type", ()):
                urls += list(type_.get("profile", ())) + list(type_.get("targetProfile", ()))
            for url in urls:
                if url and url.startswith(systems.LIAISON_CANONICAL) and not definitions().get(url):
                    missing.add(url)
    assert missing == set()


def test_every_required_binding_can_be_expanded() -> None:
    for structure in definitions().by_type["StructureDefinition"]:
        for element in structure["differential"]["element"]:
            binding = element.get("binding", {})
            if binding.get("strength") == "required":
                assert expand(binding["valueSet"]), (element["id"], binding["valueSet"])


def test_every_profile_loads_into_the_validator() -> None:
    loaded = {found.url for found in all_profiles()}
    assert loaded == {s["url"] for s in definitions().by_type["StructureDefinition"]}


def test_the_recommendation_profile_derives_from_uk_core_with_the_submission_rules() -> None:
    recommendation = profile(systems.PROFILE_MEDICATION_REQUEST)
    assert recommendation is not None
    assert definitions().get(systems.PROFILE_MEDICATION_REQUEST)["baseDefinition"] == (
        systems.UKCORE_MEDICATION_REQUEST
    )
    assert "MedicationRequest.extension:consent" in recommendation.by_id
    assert recommendation.by_id["MedicationRequest.intent"].fixed == "proposal"
    keys = {c.key for rule in recommendation.rules for c in rule.constraints}
    assert {"lia-mr-6", "lia-rec-2"} <= keys
    assert "lia-mr-1" not in keys  # the submission's contained Patient is not sent on


def test_code_systems_count_their_concepts() -> None:
    for code_system in definitions().by_type["CodeSystem"]:
        assert code_system["count"] == len(code_system["concept"])


def test_the_liaison_status_code_system_holds_every_public_status_word() -> None:
    codes = {
        code for _, code in expand(f"{systems.LIAISON_CANONICAL}/ValueSet/liaison-status") or ()
    }
    # The public status words of the REST contract.
    assert codes == {
        "received", "queued", "delivered", "accepted", "rejected", "appointment-needed",
        "prescription-issued", "ready-to-collect", "collected", "not-dispensed", "cancelled",
        "delivery-failed", "identity-mismatch", "no-usable-practice", "appointment-booked",
        "attended", "did-not-attend",
    }  # fmt: skip


def test_served_definitions_cannot_be_changed_in_place() -> None:
    structure = definitions().read("StructureDefinition", "Liaison-Task-Fulfilment")
    assert structure is not None
    with pytest.raises(TypeError):
        structure["status"] = "retired"  # type: ignore[index]
    copy = thaw(structure)
    copy["status"] = "retired"
    assert structure["status"] == "draft"
