"""Read a deployment's own dm+d release (NHSBSA XML) into the codes Liaison may use.

Liaison ships no dm+d code; `liaison catalogue import` runs this over the unzipped release
the deployment is licensed to use, and the result is stored with the release's name as the
source of every code. Nothing is guessed:
- a catalogue product with an expected concept id (shipped with its source, or given by the
  operator as `--code KEY=VPID`) gets the VMP or AMP with that id; a different name there is a
  warning, not a miss, since a release may spell a name differently ("0.5mg" for "500microgram");
- any other product gets the VMP whose name (NM) equals its dm+d-style display;
- a clinical-safety rule gets its substance's VTM, every VMP under that VTM and every AMP
  (branded product, e.g. Clozaril) under those VMPs, so an app that codes a current medicine
  at any of those levels is matched.
Invalid concepts (INVALID=1) are skipped. Streams are passed in; this module opens nothing.
"""

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO

from fhir_profiles.catalogue import Product
from fhir_profiles.imported_codes import ImportedCode, ImportedCodes
from fhir_profiles.safety import SafetyRule


@dataclass(frozen=True)
class Concept:
    id: str
    name: str
    parent: str | None  # VMP -> VTMID, AMP -> VPID, VTM -> None


@dataclass(frozen=True)
class ImportReport:
    codes: ImportedCodes
    unmatched_products: tuple[str, ...]  # catalogue keys with no VMP of the same name
    rules_without_codes: tuple[str, ...]  # rule keys whose substance has no VTM
    warnings: tuple[str, ...] = ()  # matched on id, but the release names it differently


def _normalise(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


def read_concepts(
    stream: IO[bytes], record: str, id_tag: str, parent_tag: str | None
) -> Iterator[Concept]:
    """Each valid <record> element of a dm+d file (VTM, VMP or AMP), streamed."""
    # The operator's own NHSBSA release, not network input; ElementTree fetches no external
    # entities and expat >= 2.4 caps entity expansion, so plain iterparse is enough here.
    for _, element in ElementTree.iterparse(stream, events=("end",)):  # noqa: S314
        if element.tag != record:
            continue
        concept_id = element.findtext(id_tag)
        name = element.findtext("NM")
        invalid = element.findtext("INVALID") == "1"
        parent = element.findtext(parent_tag) if parent_tag else None
        element.clear()
        if concept_id and name and not invalid:
            yield Concept(concept_id.strip(), name.strip(), parent.strip() if parent else None)


def match_release(
    *,
    vtms: Iterable[Concept],
    vmps: Iterable[Concept],
    amps: Iterable[Concept],
    products: Iterable[Product],
    rules: Iterable[SafetyRule],
    source: str,
    expected: Mapping[str, str] | None = None,
) -> ImportReport:
    """`expected` maps catalogue keys to the VPID/APID each must have in the release."""
    vmp_list = list(vmps)
    amp_list = list(amps)
    by_id = {concept.id: concept for concept in (*vmp_list, *amp_list)}
    by_name = {_normalise(vmp.name): vmp for vmp in vmp_list}
    codes: list[ImportedCode] = []
    unmatched = []
    warnings = []
    for product in products:
        wanted = (expected or {}).get(product.key) or product.dmd_code
        found = by_id.get(wanted) if wanted else by_name.get(_normalise(product.name))
        if found is None:
            unmatched.append(product.key)
            continue
        if _normalise(found.name) != _normalise(product.name):
            warnings.append(f"{product.key}: {found.id} is named {found.name!r} in the release")
        codes.append(ImportedCode("product", product.key, found.id, found.name, source))
    vtm_by_name = {_normalise(vtm.name): vtm for vtm in vtms}
    vmps_by_vtm: dict[str, list[Concept]] = {}
    for vmp in vmp_list:
        if vmp.parent:
            vmps_by_vtm.setdefault(vmp.parent, []).append(vmp)
    amps_by_vmp: dict[str, list[Concept]] = {}
    for amp in amp_list:
        if amp.parent:
            amps_by_vmp.setdefault(amp.parent, []).append(amp)
    without = []
    for rule in rules:
        vtm = vtm_by_name.get(_normalise(rule.substance))
        if vtm is None:
            without.append(rule.key)
            continue
        codes.append(ImportedCode("safety-rule", rule.key, vtm.id, vtm.name, source))
        for vmp in vmps_by_vtm.get(vtm.id, ()):
            codes.append(ImportedCode("safety-rule", rule.key, vmp.id, vmp.name, source))
            for amp in amps_by_vmp.get(vmp.id, ()):
                codes.append(ImportedCode("safety-rule", rule.key, amp.id, amp.name, source))
    return ImportReport(ImportedCodes.of(codes), tuple(unmatched), tuple(without), tuple(warnings))
