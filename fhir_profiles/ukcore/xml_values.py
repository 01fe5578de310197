"""FHIR XML (http://hl7.org/fhir/R4/xml.html) to plain values, parsed with defusedxml."""

from collections.abc import Mapping
from typing import Any, Final
from xml.etree.ElementTree import Element

FHIR_NS: Final = "{http://hl7.org/fhir}"


def local(element: Element) -> str:
    return element.tag.removeprefix(FHIR_NS)


def child(element: Element, name: str) -> Element | None:
    return element.find(f"{FHIR_NS}{name}")


def children(element: Element, name: str) -> list[Element]:
    return element.findall(f"{FHIR_NS}{name}")


def text(element: Element, name: str) -> str | None:
    found = child(element, name)
    return None if found is None else found.get("value")


def value(element: Element) -> Any:
    """A primitive's `value` attribute, or a complex value as a dict whose every child is a
    list (XML does not say which elements repeat; `matches` treats lists as sets)."""
    nested = list(element)
    if not nested:
        return element.get("value")
    result: dict[str, list[Any]] = {}
    for item in nested:
        result.setdefault(local(item), []).append(value(item))
    return result


def matches(instance: Any, pattern: Any) -> bool:
    """FHIR pattern[x] semantics: every value the pattern states appears in the instance."""
    if isinstance(pattern, (list, tuple)):
        items = instance if isinstance(instance, (list, tuple)) else [instance]
        return all(any(matches(item, want) for item in items) for want in pattern)
    if isinstance(pattern, Mapping):
        if not isinstance(instance, Mapping):
            return False
        return all(
            key in instance and matches(instance[key], want) for key, want in pattern.items()
        )
    if isinstance(instance, (list, tuple)) and len(instance) == 1:
        instance = instance[0]
    if isinstance(instance, bool):
        return str(instance).lower() == str(pattern)
    return instance is not None and bool(str(instance) == str(pattern))


def equals(instance: Any, fixed: Any) -> bool:
    """fixed[x]: the pattern's values, and nothing more in a complex value."""
    if not matches(instance, fixed):
        return False
    if isinstance(fixed, Mapping) and isinstance(instance, Mapping):
        return set(instance) <= set(fixed)
    return True
