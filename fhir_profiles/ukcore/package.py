"""The UK Core package as data: profiles' differential elements, value sets, code systems.

Read once from a folder laid out as the published package's source (structuredefinitions/,
valuesets/, codesystems/, each a folder of FHIR XML), parsed with defusedxml so that a
hostile file cannot expand entities or reach the network.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from fhir_profiles.ukcore.xml_values import child, children, local, text, value

UKCORE_SD: Final = "https://fhir.hl7.org.uk/StructureDefinition/"
R4_BASE: Final = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True)
class ElementRule:
    """One element of a differential, with what the checker needs of it."""

    id: str
    min: int | None
    max: str | None
    slicing: tuple[tuple[str, str], ...]  # (discriminator type, path)
    slicing_rules: str | None
    fixed: tuple[str, Any] | None  # (type suffix, value), e.g. ("Uri", "https://...")
    pattern: tuple[str, Any] | None
    binding: tuple[str, str | None] | None  # (strength, value set url)
    type_profiles: tuple[str, ...]


@dataclass(frozen=True)
class StructureDef:
    url: str
    name: str
    type: str
    base: str
    elements: tuple[ElementRule, ...]


@dataclass
class UkCorePackage:
    folder: Path
    structures: dict[str, StructureDef] = field(default_factory=dict)
    value_sets: dict[str, Element] = field(default_factory=dict)
    code_systems: dict[str, Element] = field(default_factory=dict)
    _expansions: dict[str, frozenset[tuple[str, str]] | None] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path | str) -> "UkCorePackage":
        root = Path(folder)
        if not (root / "structuredefinitions").is_dir():
            raise FileNotFoundError(f"{root} holds no UK Core structuredefinitions/ folder")
        package = cls(root)
        for xml in sorted((root / "structuredefinitions").glob("*.xml")):
            structure = _structure(_parse(xml))
            package.structures[structure.url] = structure
        for xml in sorted((root / "valuesets").glob("*.xml")):
            resource = _parse(xml)
            package.value_sets[str(text(resource, "url"))] = resource
        for xml in sorted((root / "codesystems").glob("*.xml")):
            resource = _parse(xml)
            package.code_systems[str(text(resource, "url"))] = resource
        return package

    def chain(self, url: str) -> list[StructureDef]:
        """The profile at `url` and its UK Core bases, base first ([] when not UK Core)."""
        found: list[StructureDef] = []
        current = self.structures.get(url.split("|", 1)[0])
        while current is not None and current not in found:
            found.insert(0, current)
            current = self.structures.get(current.base)
        return found

    def codes(self, value_set: str) -> frozenset[tuple[str, str]] | None:
        """(system, code) pairs a value set holds; None when it cannot be enumerated here
        (it draws on SNOMED CT, filters, or another package), so nothing is refused."""
        url = value_set.split("|", 1)[0]
        if url not in self._expansions:
            self._expansions[url] = self._expand(url)
        return self._expansions[url]

    def _expand(self, url: str) -> frozenset[tuple[str, str]] | None:
        resource = self.value_sets.get(url)
        compose = None if resource is None else child(resource, "compose")
        if compose is None:
            return None
        pairs: set[tuple[str, str]] = set()
        for include in children(compose, "include"):
            system = text(include, "system")
            concepts = children(include, "concept")
            if system is None or children(include, "filter") or children(include, "valueSet"):
                return None
            if concepts:
                pairs |= {(system, str(text(c, "code"))) for c in concepts}
            elif system in self.code_systems:
                pairs |= {(system, code) for code in _all_codes(self.code_systems[system])}
            else:
                return None
        return frozenset(pairs)


def _parse(path: Path) -> Element:
    root = ElementTree.parse(path).getroot()
    if root is None:
        raise ValueError(f"{path} holds no XML document")
    return root


def _all_codes(code_system: Element) -> Iterable[str]:
    for concept in children(code_system, "concept"):
        code = text(concept, "code")
        if code is not None:
            yield code
        yield from _all_codes(concept)


def _typed(element: Element, prefix: str) -> tuple[str, Any] | None:
    for item in element:
        name = local(item)
        if name.startswith(prefix) and name[len(prefix) :][:1].isupper():
            return name[len(prefix) :], value(item)
    return None


def _rule(element: Element) -> ElementRule:
    low = text(element, "min")
    slicing = child(element, "slicing")
    binding = child(element, "binding")
    profiles = tuple(
        str(p.get("value")) for t in children(element, "type") for p in children(t, "profile")
    )
    return ElementRule(
        id=str(element.get("id")),
        min=int(low) if low is not None else None,
        max=text(element, "max"),
        slicing=tuple(
            (str(text(d, "type")), str(text(d, "path")))
            for d in (children(slicing, "discriminator") if slicing is not None else [])
        ),
        slicing_rules=text(slicing, "rules") if slicing is not None else None,
        fixed=_typed(element, "fixed"),
        pattern=_typed(element, "pattern"),
        binding=(
            (str(text(binding, "strength")), text(binding, "valueSet"))
            if binding is not None
            else None
        ),
        type_profiles=profiles,
    )


def _structure(resource: Element) -> StructureDef:
    differential = child(resource, "differential")
    elements = children(differential, "element") if differential is not None else []
    return StructureDef(
        url=str(text(resource, "url")),
        name=str(text(resource, "name")),
        type=str(text(resource, "type")),
        base=str(text(resource, "baseDefinition")),
        elements=tuple(_rule(e) for e in elements),
    )


def _typed_json(element: Mapping[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, item in element.items():
        if key.startswith(prefix) and key[len(prefix) :][:1].isupper():
            return key[len(prefix) :], item
    return None


def from_json(definition: Mapping[str, Any]) -> StructureDef:
    """A StructureDefinition in FHIR JSON (Liaison's own profiles) as the same rules."""
    rules = []
    for element in definition["differential"]["element"]:
        slicing = element.get("slicing") or {}
        binding = element.get("binding")
        rules.append(
            ElementRule(
                id=str(element["id"]),
                min=element.get("min"),
                max=element.get("max"),
                slicing=tuple((d["type"], d["path"]) for d in slicing.get("discriminator", ())),
                slicing_rules=slicing.get("rules"),
                fixed=_typed_json(element, "fixed"),
                pattern=_typed_json(element, "pattern"),
                binding=(binding["strength"], binding.get("valueSet")) if binding else None,
                type_profiles=tuple(
                    p for t in element.get("type", ()) for p in t.get("profile", ())
                ),
            )
        )
    return StructureDef(
        url=str(definition["url"]),
        name=str(definition["name"]),
        type=str(definition["type"]),
        base=str(definition["baseDefinition"]),
        elements=tuple(rules),
    )


def merged(chain: list[StructureDef]) -> Mapping[str, ElementRule]:
    """Element rules by id over a chain, the most derived profile's statement winning."""
    rules: dict[str, ElementRule] = {}
    for structure in chain:
        for rule in structure.elements:
            previous = rules.get(rule.id)
            if previous is None:
                rules[rule.id] = rule
                continue
            rules[rule.id] = ElementRule(
                id=rule.id,
                min=rule.min if rule.min is not None else previous.min,
                max=rule.max or previous.max,
                slicing=rule.slicing or previous.slicing,
                slicing_rules=rule.slicing_rules or previous.slicing_rules,
                fixed=rule.fixed or previous.fixed,
                pattern=rule.pattern or previous.pattern,
                binding=rule.binding or previous.binding,
                type_profiles=rule.type_profiles or previous.type_profiles,
            )
    return rules
