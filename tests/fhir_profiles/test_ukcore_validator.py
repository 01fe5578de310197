"""The UK Core validator refuses hand-broken resources, naming the element it broke."""

import copy
from pathlib import Path
from typing import Any

import pytest

from fhir_profiles import systems
from fhir_profiles.builders import build_resources
from fhir_profiles.issues import Issue
from fhir_profiles.ukcore import UkCorePackage, ukcore_issues
from tests.fhir_profiles.factories import make_facts
from tests.fhir_profiles.ukcore_package import ukcore

Resource = dict[str, Any]


def _patient() -> Resource:
    patient = build_resources(make_facts()).patient
    assert patient is not None
    return copy.deepcopy(patient)


def _messages(issues: list[Issue]) -> str:
    return "\n".join(f"{issue.path}: {issue.message}" for issue in issues)


def test_the_package_is_read_from_the_official_files() -> None:
    package = ukcore()
    assert systems.UKCORE_PATIENT in package.structures
    assert package.structures[systems.UKCORE_PATIENT].base == (
        "http://hl7.org/fhir/StructureDefinition/Patient"
    )
    codes = package.codes("https://fhir.hl7.org.uk/ValueSet/UKCore-NHSNumberVerificationStatus")
    assert codes is not None
    assert (systems.UKCORE_NHS_NUMBER_VERIFICATION, "01") in codes


def test_a_patient_without_the_nhs_number_slice_is_refused() -> None:
    patient = _patient()
    patient["identifier"] = [{"system": "https://example.org/local-mrn", "value": "123"}]
    issues = ukcore_issues(patient, ukcore())
    assert "Patient.identifier:nhsNumber" in _messages(issues)


def test_an_nhs_number_under_the_wrong_fixed_system_is_not_the_nhs_number_slice() -> None:
    patient = _patient()
    patient["identifier"][0]["system"] = "https://fhir.nhs.uk/Id/nhs-numbr"
    assert "Patient.identifier:nhsNumber" in _messages(ukcore_issues(patient, ukcore()))


def test_a_verification_status_without_its_value_is_refused() -> None:
    patient = _patient()
    del patient["identifier"][0]["extension"][0]["valueCodeableConcept"]
    # Extension-UKCore-NHSNumberVerificationStatus: value[x] 1..1.
    assert "Extension.value[x]" in _messages(ukcore_issues(patient, ukcore()))


def test_a_verification_code_outside_the_required_value_set_is_refused() -> None:
    patient = _patient()
    coding = patient["identifier"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]
    coding["code"] = "99"
    messages = _messages(ukcore_issues(patient, ukcore()))
    assert "Extension.value[x]" in messages
    assert "UKCore-NHSNumberVerificationStatus" in messages
    # The retired code system is not in the value set either.
    coding.update(system="https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus")
    coding["code"] = "number-present-and-verified"
    assert "Extension.value[x]" in _messages(ukcore_issues(patient, ukcore()))


def test_a_medication_request_without_substitution_breaks_uk_core() -> None:
    mr = copy.deepcopy(build_resources(make_facts()).medication_request)
    del mr["substitution"]
    assert "MedicationRequest.substitution" in _messages(ukcore_issues(mr, ukcore()))


def test_a_practitioner_language_outside_all_languages_is_refused() -> None:
    practitioner = build_resources(make_facts()).practitioner
    assert practitioner is not None
    broken = {
        **practitioner,
        "communication": [{"coding": [{"system": "urn:ietf:bcp:47", "code": "klingon"}]}],
    }
    # all-languages is not enumerable here (BCP-47): the validator does not guess.
    assert ukcore_issues(broken, ukcore()) == []


def test_an_unknown_uk_core_extension_is_refused() -> None:
    patient = _patient()
    patient["extension"] = [
        {"url": f"{systems.UKCORE_SD}/Extension-UKCore-Invented", "valueString": "x"}
    ]
    assert "Extension-UKCore-Invented" in _messages(ukcore_issues(patient, ukcore()))


def test_a_folder_without_the_package_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="structuredefinitions"):
        UkCorePackage.load(tmp_path)
