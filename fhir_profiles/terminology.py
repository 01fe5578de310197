"""Value-set membership for required bindings, from Liaison's own CodeSystems and ValueSets.

Only what Liaison defines can be expanded here: a ValueSet that includes a whole code system
Liaison does not hold (SNOMED CT, dm+d) cannot be enumerated, and `expand` says so with None
rather than guessing.
"""

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from fhir_profiles.conformance import definitions

Code = tuple[str, str]  # (system, code)


def _concepts(concepts: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for concept in concepts:
        yield concept
        yield from _concepts(concept.get("concept", ()))


def code_system_concepts(url: str) -> tuple[Mapping[str, Any], ...] | None:
    code_system = definitions().get(url)
    if code_system is None or code_system.get("resourceType") != "CodeSystem":
        return None
    return tuple(_concepts(code_system.get("concept", ())))


@cache
def expand(url: str) -> frozenset[Code] | None:
    """Every (system, code) in the ValueSet at `url`, or None when it cannot be enumerated."""
    value_set = definitions().get(url)
    if value_set is None or value_set.get("resourceType") != "ValueSet":
        return None
    codes: set[Code] = set()
    for include in value_set.get("compose", {}).get("include", ()):
        system = include.get("system")
        if not system or include.get("filter") or include.get("valueSet"):
            return None
        listed = include.get("concept")
        if listed:
            codes.update((system, concept["code"]) for concept in listed)
            continue
        concepts = code_system_concepts(system)
        if concepts is None:
            return None
        codes.update((system, concept["code"]) for concept in concepts)
    excluded = value_set.get("compose", {}).get("exclude", ())
    if excluded:
        return None
    return frozenset(codes)


def display(system: str, code: str) -> str | None:
    for concept in code_system_concepts(system) or ():
        if concept.get("code") == code:
            value = concept.get("display")
            return str(value) if value is not None else None
    return None
