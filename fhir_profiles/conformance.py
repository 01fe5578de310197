"""Load Liaison's conformance resources and rule tables from `fhir_profiles/definitions/`.

The JSON files are the source of truth: the validator, the catalogue, the status mapping and
the clinical-safety rules all read them, and `/fhir` serves the conformance resources. They are
written under the placeholder `{canonical}`, replaced as they load by the deployment's
canonical base (`fhir_profiles.canonical`). Loaded once per process (the files ship with the
package and never change at run time).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from fhir_profiles.canonical import with_canonical

CONFORMANCE_TYPES: Final = ("StructureDefinition", "CodeSystem", "ValueSet", "ConceptMap")


@dataclass(frozen=True)
class Definitions:
    by_url: Mapping[str, Mapping[str, Any]]
    by_type: Mapping[str, tuple[Mapping[str, Any], ...]]

    def get(self, url: str) -> Mapping[str, Any] | None:
        return self.by_url.get(url.split("|", 1)[0])

    def read(self, resource_type: str, resource_id: str) -> Mapping[str, Any] | None:
        for resource in self.by_type.get(resource_type, ()):
            if resource.get("id") == resource_id:
                return resource
        return None


def _read(name: str) -> Any:
    text = (resources.files("fhir_profiles.definitions") / name).read_text("utf-8")
    return json.loads(with_canonical(text))


def _freeze(value: Any) -> Any:
    # Served and shared across requests: nobody may change a definition in place.
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A plain JSON-ready copy of a loaded definition (for serving or editing)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


@cache
def definitions() -> Definitions:
    by_url: dict[str, Mapping[str, Any]] = {}
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    folder = resources.files("fhir_profiles.definitions")
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        prefix = entry.name.split("-", 1)[0]
        if not entry.name.endswith(".json") or prefix not in CONFORMANCE_TYPES:
            continue
        resource = _freeze(json.loads(with_canonical(entry.read_text("utf-8"))))
        if resource["resourceType"] != prefix:
            raise ValueError(f"{entry.name} holds a {resource['resourceType']}, not a {prefix}")
        if resource["url"] in by_url:
            raise ValueError(f"two definitions share the canonical URL {resource['url']}")
        by_url[resource["url"]] = resource
        by_type.setdefault(prefix, []).append(resource)
    return Definitions(
        by_url=MappingProxyType(by_url),
        by_type=MappingProxyType({key: tuple(value) for key, value in by_type.items()}),
    )


@dataclass(frozen=True)
class BaseBinding:
    path: str  # the R4 element, named by the type that defines it (e.g. "Identifier.use")
    value_set: str
    source: str
    codes: frozenset[str]


@cache
def base_bindings() -> Mapping[str, BaseBinding]:
    document = _read("base-r4-bindings.json")
    return MappingProxyType(
        {
            item["path"]: BaseBinding(
                item["path"], item["valueSet"], item["source"], frozenset(item["codes"])
            )
            for item in document["bindings"]
        }
    )


@dataclass(frozen=True)
class BaseInvariant:
    key: str
    applies_to: str  # a resource type, or "DomainResource" for every domain resource
    human: str
    expression: str
    source: str
    checked_by: str | None = None  # a module that checks it natively instead of by FHIRPath


@cache
def base_invariants() -> tuple[BaseInvariant, ...]:
    document = _read("base-r4-invariants.json")
    return tuple(
        BaseInvariant(
            item["key"],
            item["appliesTo"],
            item["human"],
            item["expression"],
            item["source"],
            item.get("checkedBy"),
        )
        for item in document["invariants"]
    )


@cache
def safety_rule_document() -> Mapping[str, Any]:
    document: Mapping[str, Any] = _freeze(_read("clinical-safety-rules.json"))
    return document
