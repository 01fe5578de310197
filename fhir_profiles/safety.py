"""Clinical-safety flags for stopping smoking: which current medicines need watching.

Tobacco smoke (not nicotine) induces CYP1A2, so stopping or cutting down raises the levels
of medicines it clears, most of all clozapine and olanzapine. The rule table is data
(`definitions/clinical-safety-rules.json`, each rule with its sources). A current medicine
matches a rule by code (dm+d codes a deployment imported; none are shipped) or by its
normalised name, including brand names (Clozaril, Denzapine, Zyprexa, ...). The name is
checked even when a code is given, so a code Liaison cannot resolve never hides a flag.
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Literal, cast

from fhir_profiles import systems
from fhir_profiles.conformance import safety_rule_document
from fhir_profiles.imported_codes import NO_IMPORTED_CODES, ImportedCodes
from fhir_profiles.recommendation import CurrentMedicine

Severity = Literal["high", "moderate", "low"]
SEVERITY_ORDER: Final[Mapping[str, int]] = {"high": 0, "moderate": 1, "low": 2}
# dm+d ids are SNOMED CT-compatible: EPS sends them under SNOMED's system (NHS England EPS
# FHIR API examples, github.com/NHSDigital/electronic-prescription-service-api).
_DMD_SYSTEMS: Final = frozenset({systems.DMD, systems.SNOMED_CT})


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    publisher: str
    url: str | None
    note: str | None


@dataclass(frozen=True)
class SafetyRule:
    key: str
    substance: str
    display: str
    severity: Severity
    brands: tuple[str, ...]
    codes: frozenset[str]
    sources: tuple[Source, ...]
    advice: str

    @property
    def reference_url(self) -> str:
        """The first source with a URL: DetectedIssue.reference, the authority for the flag."""
        return next(source.url for source in self.sources if source.url)


@dataclass(frozen=True)
class Finding:
    rule: SafetyRule
    medicine: CurrentMedicine
    matched_by: Literal["code", "name", "brand"]


def tokens(text: str) -> tuple[str, ...]:
    """Lower-case words and numbers, accents stripped: "Clozaril 100mg" -> clozaril 100 mg."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return tuple(re.findall(r"[a-z]+|[0-9]+", plain))


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    size = len(needle)
    return size > 0 and any(
        haystack[index : index + size] == needle for index in range(len(haystack) - size + 1)
    )


def _source(key: str, item: Mapping[str, Any]) -> Source:
    return Source(key, item["title"], item["publisher"], item.get("url"), item.get("note"))


@cache
def rules() -> tuple[SafetyRule, ...]:
    document = safety_rule_document()
    sources = {key: _source(key, item) for key, item in document["sources"].items()}
    loaded = []
    for item in document["rules"]:
        if item["severity"] not in SEVERITY_ORDER:
            raise ValueError(f"safety rule {item['key']!r}: unknown severity")
        if not item["sources"]:
            raise ValueError(f"safety rule {item['key']!r} has no source")
        rule = SafetyRule(
            key=item["key"],
            substance=item["substance"],
            display=item["display"],
            severity=cast(Severity, item["severity"]),
            brands=tuple(item["brands"]),
            codes=frozenset(item["codes"]),
            sources=tuple(sources[key] for key in item["sources"]),
            advice=item["advice"],
        )
        rule.reference_url  # noqa: B018 - every rule needs a citable URL; fail at load if not
        loaded.append(rule)
    return tuple(loaded)


def _match(
    rule: SafetyRule, medicine: CurrentMedicine, imported: ImportedCodes
) -> Literal["code", "name", "brand"] | None:
    known_codes = rule.codes | imported.rule_codes(rule.key)
    if medicine.code and medicine.system in _DMD_SYSTEMS and medicine.code in known_codes:
        return "code"
    words = tokens(medicine.name)
    if _contains(words, tokens(rule.substance)):
        return "name"
    if any(_contains(words, tokens(brand)) for brand in rule.brands):
        return "brand"
    return None


def assess(
    medicines: Iterable[CurrentMedicine], imported: ImportedCodes = NO_IMPORTED_CODES
) -> tuple[Finding, ...]:
    """Every (rule, medicine) match, most severe first."""
    findings = [
        Finding(rule, medicine, matched_by)
        for medicine in medicines
        for rule in rules()
        if (matched_by := _match(rule, medicine, imported)) is not None
    ]
    return tuple(sorted(findings, key=lambda found: SEVERITY_ORDER[found.rule.severity]))


def highest_severity(findings: Iterable[Finding]) -> Severity | None:
    severities = sorted((f.rule.severity for f in findings), key=SEVERITY_ORDER.__getitem__)
    return severities[0] if severities else None


def mechanism() -> str:
    return str(safety_rule_document()["mechanism"]["text"])


def neuropsychiatric_note(product_kind: str) -> str | None:
    """The EAGLES evidence for varenicline and bupropion in people with mental illness."""
    note = safety_rule_document()["neuropsychiatricSafety"]
    return str(note["text"]) if product_kind in note["appliesTo"] else None
