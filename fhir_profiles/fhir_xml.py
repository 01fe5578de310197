"""FHIR R4 XML to FHIR JSON, for the UK Core differentials a snapshot is built from.

XML does not say which elements repeat, nor whether `<min value="1"/>` is a number; the JSON
form (https://hl7.org/fhir/R4/json.html) needs both. The base R4 StructureDefinitions say
it: an element whose max is not 1 is an array, and a primitive's type gives its JSON
kind. Choice elements take their type from the name (`fixedUri` is `fixed[x]` as a uri,
https://hl7.org/fhir/R4/formats.html#choice). `id` and an extension's `url` are XML
attributes (https://hl7.org/fhir/R4/xml.html).
"""

from collections.abc import Mapping
from typing import Any, Final
from xml.etree.ElementTree import Element, tostring

from fhir_profiles.r4_definitions import Json, R4Definitions
from fhir_profiles.ukcore.xml_values import local

_INTEGERS: Final = frozenset({"integer", "positiveInt", "unsignedInt"})
_ATTRIBUTES: Final = ("id", "url")


class FhirXmlError(ValueError):
    """The XML names an element its type does not have."""


def _is_primitive(code: str) -> bool:
    return code[:1].islower() or code.startswith("http://hl7.org/fhirpath/")


def _primitive(raw: str | None, code: str) -> Any:
    if raw is None:
        return None
    if code == "boolean":
        return raw == "true"
    if code in _INTEGERS:
        return int(raw)
    if code == "decimal":
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    return raw


def _definition(index: Mapping[str, Json], prefix: str, name: str) -> tuple[Json, str] | None:
    """The base element a child named `name` stands for, and its type code: `name` itself,
    or a choice element `<stem>[x]` with the type the name ends in."""
    found = index.get(f"{prefix}.{name}")
    if found is not None:
        types = found.get("type") or [{"code": "Element"}]
        return found, str(types[0]["code"])
    for path, element in index.items():
        stem = path[len(prefix) + 1 : -3] if path.endswith("[x]") else None
        if path.startswith(prefix + ".") and stem and name.startswith(stem):
            suffix = name[len(stem) :]
            for type_ in element.get("type", ()):
                code = str(type_["code"])
                if code[:1].upper() + code[1:] == suffix:
                    return element, code
    return None


def to_json(node: Element, type_code: str, r4: R4Definitions) -> Json:
    """A complex FHIR XML element as JSON, read as a value of R4 type `type_code`."""
    return _complex(node, r4.elements_by_path(type_code), type_code, r4)


def _complex(node: Element, index: Mapping[str, Json], prefix: str, r4: R4Definitions) -> Json:
    result: Json = {key: node.get(key) for key in _ATTRIBUTES if node.get(key) is not None}
    for item in node:
        name = local(item)
        found = _definition(index, prefix, name)
        if found is None:
            raise FhirXmlError(f"{prefix}.{name} is not an element of R4 {prefix.split('.')[0]}")
        definition, code = found
        repeats = definition.get("max") != "1"
        value: Any
        extra: Json | None = None
        inline = str(definition["path"])
        if any(path.startswith(inline + ".") for path in index) and code in (
            "Element",
            "BackboneElement",
        ):
            value = _complex(item, index, inline, r4)
        elif code == "xhtml":
            value = tostring(item, encoding="unicode")
        elif _is_primitive(code):
            value = _primitive(item.get("value"), code)
            if len(item) or item.get("id"):
                extra = _complex(item, r4.elements_by_path("Element"), "Element", r4)
        else:
            value = to_json(item, code, r4)
        _put(result, name, value, extra, repeats)
    return result


def _put(result: Json, name: str, value: Any, extra: Json | None, repeats: bool) -> None:
    # A primitive's id and extensions go beside it, under `_name`, aligned by position in
    # an array (https://hl7.org/fhir/R4/json.html#primitive).
    if not repeats:
        if value is not None:
            result[name] = value
        if extra is not None:
            result["_" + name] = extra
        return
    values = result.setdefault(name, [])
    values.append(value)
    if extra is not None or "_" + name in result:
        extras = result.setdefault("_" + name, [None] * (len(values) - 1))
        extras.append(extra)
