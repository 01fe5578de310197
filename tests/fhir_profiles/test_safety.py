"""The clinical-safety rule table: sourced data, matched by code or by name and brand."""

import pytest

from fhir_profiles import systems
from fhir_profiles.conformance import safety_rule_document
from fhir_profiles.imported_codes import ImportedCode, ImportedCodes
from fhir_profiles.recommendation import CurrentMedicine
from fhir_profiles.safety import assess, highest_severity, rules, tokens


def _keys(*names: str, imported: ImportedCodes | None = None) -> list[str]:
    medicines = [CurrentMedicine(name) for name in names]
    found = assess(medicines, imported) if imported else assess(medicines)
    return [finding.rule.key for finding in found]


def test_every_rule_names_sources_that_exist_and_one_has_a_url() -> None:
    sources = safety_rule_document()["sources"]
    for item in safety_rule_document()["rules"]:
        assert item["sources"], item["key"]
        assert all(key in sources for key in item["sources"]), item["key"]
    for rule in rules():
        assert rule.reference_url.startswith("https://")
        assert rule.advice.startswith(rule.display)


def test_no_rule_ships_a_code() -> None:
    # None was verified from a public source; codes come only from a deployment's dm+d import.
    assert all(not rule.codes for rule in rules())


def test_the_clozapine_rule_carries_the_uk_monitoring_advice() -> None:
    clozapine = next(rule for rule in rules() if rule.key == "clozapine")
    assert clozapine.severity == "high"
    for phrase in (
        "baseline clozapine level",
        "over about a week towards about 75 %",
        "repeat the level after about 7 days",
        "sedation",
        "hypersalivation",
        "seizures",
        "1.5-fold within 2-4 weeks",
        "nicotine replacement does not prevent this",
    ):
        assert phrase in clozapine.advice


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Clozapine 300mg daily", "clozapine"),
        ("CLOZAPINE", "clozapine"),
        ("clozapine300mg at night", "clozapine"),
        ("Clozaril 100mg tablets", "clozapine"),
        ("Denzapine 50mg/ml oral suspension", "clozapine"),
        ("Zaponex 25mg", "clozapine"),
        ("Zyprexa Velotab 10mg", "olanzapine"),
        ("olanzapine embonate (ZypAdhera) depot", "olanzapine"),
        ("Faverin 100mg", "fluvoxamine"),
        ("Cymbalta 60mg", "duloxetine"),
        ("haloperidol 5mg", "haloperidol"),
        ("Chlorpromazine 25 mg", "chlorpromazine"),
    ],
)
def test_names_and_brand_names_match(name: str, rule: str) -> None:
    assert _keys(name) == [rule]


@pytest.mark.parametrize(
    "name", ["Sertraline 50mg", "Nortriptyline 25mg", "Metformin", "Aripiprazole 10mg", "Lithium"]
)
def test_medicines_not_in_the_table_match_nothing(name: str) -> None:
    assert _keys(name) == []


def test_findings_come_most_severe_first() -> None:
    found = assess(
        [CurrentMedicine("haloperidol"), CurrentMedicine("olanzapine"), CurrentMedicine("Clozaril")]
    )
    assert [f.rule.key for f in found] == ["clozapine", "olanzapine", "haloperidol"]
    assert highest_severity(found) == "high"
    assert highest_severity(()) is None


def test_an_imported_code_matches_whatever_the_name_says() -> None:
    # A synthetic id standing for a code from the deployment's own dm+d release.
    imported = ImportedCodes.of(
        [ImportedCode("safety-rule", "clozapine", "990000021", "Clozapine 25mg tablets", "TEST")]
    )
    for system in (systems.DMD, systems.SNOMED_CT):
        found = assess([CurrentMedicine("CLZ 25", system, "990000021")], imported)
        assert [(f.rule.key, f.matched_by) for f in found] == [("clozapine", "code")]
    assert assess([CurrentMedicine("CLZ 25", systems.DMD, "990000021")]) == ()


def test_a_code_liaison_cannot_resolve_never_hides_a_flag_the_name_shows() -> None:
    found = assess([CurrentMedicine("Clozapine 25mg tablets", systems.DMD, "990000099")])
    assert [(f.rule.key, f.matched_by) for f in found] == [("clozapine", "name")]


def test_tokens_normalise_case_accents_and_run_together_strengths() -> None:
    assert tokens("Clozapine300MG") == ("clozapine", "300", "mg")
    assert tokens("Zyprexa® Velotab") == ("zyprexa", "velotab")
