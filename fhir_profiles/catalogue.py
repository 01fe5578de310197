"""The stop-smoking medicines a practitioner can recommend through Liaison.

The catalogue is data: the CodeSystem `definitions/CodeSystem-medication-catalogue.json`
(every NRT form, varenicline 0.5 mg / 1 mg / titration pack, bupropion 150 mg MR), whose
displays follow the dm+d virtual medicinal product naming style. A dm+d code can only be
shipped as a `DmdCode`, which cannot exist without its named public source (an NHSBSA dm+d
release, the NHS England Terminology Server, or a published code list citing dm+d). No such
source has been checked for any of these products, so `SHIPPED_DMD_CODES` is empty and the
builders send the product name as `medicationCodeableConcept.text` plus Liaison's
own catalogue coding. A deployment loads dm+d codes from its own dm+d release with
`liaison catalogue import` (see `imported_codes`); a Product then carries the code and the
release it came from, and a code never appears without that source.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, cast

from fhir_profiles import systems
from fhir_profiles.terminology import code_system_concepts

Kind = Literal["nrt", "varenicline", "bupropion"]
KINDS: Final = ("nrt", "varenicline", "bupropion")


DmdLevel = Literal["VTM", "VMP", "AMP"]


@dataclass(frozen=True)
class DmdCode:
    """A dm+d concept id and the named source it was read from; one never travels alone."""

    code: str
    source: str
    level: DmdLevel = "VMP"

    def __post_init__(self) -> None:
        # An unsourced code would reach a GP's prescribing system looking authoritative.
        if not self.source.strip():
            raise ValueError(f"dm+d code {self.code!r} without a source")
        # dm+d ids are SNOMED CT-compatible identifiers: 6 to 18 digits.
        if not (self.code.isdigit() and 6 <= len(self.code) <= 18):
            raise ValueError(f"dm+d code {self.code!r} is not a dm+d concept id")


@dataclass(frozen=True)
class Product:
    key: str
    name: str
    form: str
    kind: Kind
    dmd: DmdCode | None = None

    @property
    def dmd_code(self) -> str | None:
        return self.dmd.code if self.dmd else None

    @property
    def code_source(self) -> str | None:
        return self.dmd.source if self.dmd else None


# dm+d codes Liaison itself ships, keyed by catalogue key. Each must name the public page it
# was read from (e.g. an NHSBSA dm+d browser page or a published code list citing dm+d).
# None was found showing these products' ids explicitly, so none is shipped; a deployment
# imports its own release (`liaison catalogue import`, optionally `--code KEY=VPID`).
SHIPPED_DMD_CODES: Final[Mapping[str, DmdCode]] = MappingProxyType({})


def _property(concept: Mapping[str, object], code: str) -> str:
    for item in cast(tuple[Mapping[str, str], ...], concept.get("property", ())):
        if item.get("code") == code:
            return str(item.get("valueString") or item.get("valueCode"))
    raise ValueError(f"catalogue concept {concept.get('code')!r} has no {code!r} property")


def _load() -> Mapping[str, Product]:
    concepts = code_system_concepts(systems.MEDICATION_CATALOGUE)
    if not concepts:
        raise ValueError("the medication catalogue CodeSystem is missing or empty")
    index: dict[str, Product] = {}
    for concept in concepts:
        key = str(concept["code"])
        kind = _property(concept, "kind")
        if kind not in KINDS:
            raise ValueError(f"catalogue product {key!r} has unknown kind {kind!r}")
        if key in index:
            raise ValueError(f"duplicate catalogue key {key!r}")
        index[key] = Product(
            key,
            str(concept["display"]),
            _property(concept, "form"),
            cast(Kind, kind),
            SHIPPED_DMD_CODES.get(key),
        )
    return MappingProxyType(index)


CATALOGUE: Final[Mapping[str, Product]] = _load()


def find_product(key: str) -> Product | None:
    return CATALOGUE.get(key)


@dataclass(frozen=True)
class CourseMilestone:
    """A day of a medicine's course when the dose changes (day 1 is the first dose)."""

    day: int
    key: str


# Varenicline titration, BNF "Varenicline" dose (https://bnf.nice.org.uk/drugs/varenicline/)
# and the Champix SmPC section 4.2 (https://www.medicines.org.uk/emc/): days 1-3 0.5 mg once
# daily, days 4-7 0.5 mg twice daily, from day 8 1 mg twice daily, for 12 weeks in all.
# NRT and bupropion have no dose step a reminder should mark here.
COURSE_MILESTONES: Final[Mapping[Kind, tuple[CourseMilestone, ...]]] = MappingProxyType(
    {
        "varenicline": (
            CourseMilestone(1, "course-start"),
            CourseMilestone(4, "dose-step-1"),
            CourseMilestone(8, "dose-step-2"),
        ),
        "nrt": (),
        "bupropion": (),
    }
)
