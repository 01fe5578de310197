"""dm+d codes a deployment imported from its own dm+d release (`liaison catalogue import`).

Liaison ships no dm+d code (none was verified from a public source), so these are the only
dm+d codes it ever sends or matches, and each carries the release it came from. The gateway
reads them from its database and hands them to the builders and the safety rules as data.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final, Literal

from fhir_profiles import systems
from fhir_profiles.catalogue import DmdCode, Product

CodeKind = Literal["product", "safety-rule"]


@dataclass(frozen=True)
class ImportedCode:
    kind: CodeKind
    key: str  # a catalogue product key, or a clinical-safety rule key
    code: str  # a dm+d VTM, VMP or AMP id (SNOMED CT-compatible)
    display: str  # the dm+d name
    source: str  # the release it came from, e.g. "dm+d release 3091025 (f_vmp2_3091025.xml)"
    system: str = systems.DMD


@dataclass(frozen=True)
class ImportedCodes:
    codes: tuple[ImportedCode, ...] = ()

    def product(self, product: Product) -> Product:
        """`product` with its imported VMP code, or unchanged when none was imported."""
        for item in self.codes:
            if item.kind == "product" and item.key == product.key:
                return replace(product, dmd=DmdCode(item.code, item.source))
        return product

    def product_key_for(self, code: str) -> str | None:
        return next((i.key for i in self.codes if i.kind == "product" and i.code == code), None)

    def rule_codes(self, rule_key: str) -> frozenset[str]:
        return frozenset(
            i.code for i in self.codes if i.kind == "safety-rule" and i.key == rule_key
        )

    @classmethod
    def of(cls, codes: Iterable[ImportedCode]) -> "ImportedCodes":
        return cls(tuple(codes))


NO_IMPORTED_CODES: Final = ImportedCodes()
