"""Is this JSON valid base FHIR R4 (4.0.1)? Element names and primitive formats, checked
against the R4 model that ships with fhirpathpy.

fhir.resources has no R4 package, only R4B; R4B accepts a few elements and codes R4 does not
have (see docs/FHIR.md). This walker uses fhirpathpy's `models/r4` tables (generated from the
R4 4.0.1 StructureDefinitions: every element path and its type) so that anything Liaison emits
or serves is checked against R4 itself, not only against R4B. Cardinality (array or single
value) is left to the R4B models: for the resources Liaison uses, the two releases agree.

Also checked here, because they are structural: ele-1 (no empty elements, arrays or strings),
ext-1 (an extension has a url and either a value or extensions, not both), dom-3 (a
contained resource is referred to), and the base R4 required bindings of
`definitions/base-r4-bindings.json`.
"""

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Final

from fhir_profiles.conformance import base_bindings
from fhir_profiles.issues import Issue
from fhir_profiles.r4_model import R4_MODEL

_PATH_TO_TYPE: Final[Mapping[str, str]] = R4_MODEL["path2Type"]
_DEFINED_ELSEWHERE: Final[Mapping[str, str]] = R4_MODEL["pathsDefinedElsewhere"]
_TYPE_PARENT: Final[Mapping[str, str]] = R4_MODEL["type2Parent"]

# Regular expressions of the R4 primitive types (http://hl7.org/fhir/R4/datatypes.html).
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[1-2][0-9]|3[0-1])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_FORMATS: Final[Mapping[str, re.Pattern[str]]] = {
    "date": re.compile(rf"{_YEAR}(-{_MONTH}(-{_DAY})?)?"),
    "dateTime": re.compile(rf"{_YEAR}(-{_MONTH}(-{_DAY}(T{_TIME}{_ZONE})?)?)?"),
    "instant": re.compile(rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}"),
    "time": re.compile(_TIME),
    "code": re.compile(r"[^\s]+(\s[^\s]+)*"),
    "id": re.compile(r"[A-Za-z0-9\-.]{1,64}"),
    "uri": re.compile(r"\S*"),
    "url": re.compile(r"\S*"),
    "canonical": re.compile(r"\S*"),
    "oid": re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+"),
    "uuid": re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "base64Binary": re.compile(r"(\s*([0-9a-zA-Z+=/]){4}\s*)+"),
}
_STRINGS: Final = frozenset({"string", "markdown", "xhtml", "System.String", *_FORMATS})
_INTEGERS: Final = {"integer": None, "positiveInt": 1, "unsignedInt": 0}
_INT32: Final = 2**31


def _is_primitive(type_name: str) -> bool:
    return type_name[:1].islower() or type_name.startswith("System.")


@cache
def _element_type(context: str, name: str) -> str | None:
    """The R4 type of element `name` inside `context` (a type name or backbone path); a
    backbone element answers with its own path, so its children are found under it."""
    path = f"{context}.{name}"
    path = _DEFINED_ELSEWHERE.get(path, path)
    if path in _PATH_TO_TYPE:
        return _PATH_TO_TYPE[path]
    if any(key.startswith(f"{path}.") for key in _PATH_TO_TYPE):
        return path  # a backbone element
    parent = _TYPE_PARENT.get(context)
    if parent is not None and parent not in ("Element", "BackboneElement"):
        return _element_type(parent, name)
    return None


@cache
def _candidate_paths(context: str, name: str) -> tuple[str, ...]:
    """The paths that may define element `name` of `context`, nearest first: the element
    itself, then the same element on each parent type (Duration.comparator, Quantity's)."""
    paths: list[str] = []
    seen: str | None = context
    while seen is not None and seen not in ("Element", "BackboneElement"):
        path = f"{seen}.{name}"
        paths.append(_DEFINED_ELSEWHERE.get(path, path))
        seen = _TYPE_PARENT.get(seen)
    return tuple(paths)


def is_resource_type(name: str) -> bool:
    seen = name
    while seen in _TYPE_PARENT:
        seen = _TYPE_PARENT[seen]
        if seen == "Resource":
            return True
    return False


def _primitive_issue(type_name: str, value: Any) -> str | None:
    if type_name == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if type_name in _INTEGERS:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        low = _INTEGERS[type_name]
        if not -_INT32 <= value < _INT32 or (low is not None and value < low):
            return f"is out of range for {type_name}"
        return None
    if type_name == "decimal":
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if is_number else "must be a number"
    if type_name in _STRINGS:
        if not isinstance(value, str):
            return "must be a string"
        if not value.strip():
            return "must not be empty (R4 JSON forbids empty strings)"
        pattern = _FORMATS.get(type_name)
        if pattern is not None and not pattern.fullmatch(value):
            return f"is not a valid R4 {type_name}"
    return None


class _Walker:
    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self._bindings = base_bindings()

    def resource(self, node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            self.issues.append(Issue(path, "must be a resource (a JSON object)"))
            return
        resource_type = node.get("resourceType")
        if not isinstance(resource_type, str) or not is_resource_type(resource_type):
            self.issues.append(
                Issue(f"{path}.resourceType", f"{resource_type!r} is not an R4 resource type")
            )
            return
        self.element(node, resource_type, path, path)
        self._contained_referenced(node, path)

    def _contained_referenced(self, node: Mapping[str, Any], path: str) -> None:
        """dom-3: a contained resource is referred to from elsewhere in the resource, or
        refers to its container ("#")."""
        contained = node.get("contained")
        if not isinstance(contained, list):
            return
        references = set(_references(node))
        for index, item in enumerate(contained):
            if not isinstance(item, Mapping):
                continue
            if f"#{item.get('id')}" not in references and "#" not in set(_references(item)):
                self.issues.append(
                    Issue(
                        f"{path}.contained[{index}]",
                        "is not referred to from elsewhere in the resource (dom-3)",
                    )
                )

    def element(self, node: Mapping[str, Any], context: str, path: str, root: str) -> None:
        if not any(key not in ("id", "resourceType", "fhir_comments") for key in node):
            self.issues.append(Issue(path, "must have a value or children (ele-1)"))
        if context == "Extension":
            self._extension(node, path)
        for key, value in node.items():
            if key in ("resourceType", "fhir_comments") and path == root:
                continue
            if key.startswith("_"):
                self._primitive_extension(context, key, value, path)
                continue
            type_name = _element_type(context, key)
            if type_name is None:
                self.issues.append(Issue(f"{path}.{key}", f"is not an element of R4 {context}"))
                continue
            self._values(key, value, type_name, _candidate_paths(context, key), path, root)

    def _values(
        self,
        key: str,
        value: Any,
        type_name: str,
        defined_at: tuple[str, ...],
        path: str,
        root: str,
    ) -> None:
        if isinstance(value, list):
            if not value:
                self.issues.append(Issue(f"{path}.{key}", "must not be an empty array"))
            items = [(item, f"{path}.{key}[{index}]") for index, item in enumerate(value)]
        else:
            items = [(value, f"{path}.{key}")]
        binding = next(
            (self._bindings[where] for where in defined_at if where in self._bindings), None
        )
        for item, where in items:
            if item is None:
                self.issues.append(Issue(where, "must not be null"))
            elif type_name == "Resource":
                self.resource(item, where)
            elif _is_primitive(type_name):
                problem = _primitive_issue(type_name, item)
                if problem:
                    self.issues.append(Issue(where, problem))
                elif binding is not None and item not in binding.codes:
                    self.issues.append(
                        Issue(where, f"{item!r} is not in the R4 value set {binding.value_set}")
                    )
            elif not isinstance(item, Mapping):
                self.issues.append(Issue(where, f"must be a {type_name} (a JSON object)"))
            else:
                self.element(item, type_name, where, root)

    def _extension(self, node: Mapping[str, Any], path: str) -> None:
        if not isinstance(node.get("url"), str):
            self.issues.append(Issue(f"{path}.url", "is required on every extension"))
        has_value = any(key.startswith("value") for key in node)
        if has_value == bool(node.get("extension")):
            self.issues.append(
                Issue(path, "must have either a value or extensions, not both (ext-1)")
            )

    def _primitive_extension(self, context: str, key: str, value: Any, path: str) -> None:
        type_name = _element_type(context, key[1:])
        if type_name is None or not _is_primitive(type_name):
            self.issues.append(Issue(f"{path}.{key}", f"is not an element of R4 {context}"))
            return
        for index, item in enumerate(value if isinstance(value, list) else [value]):
            if item is not None and not isinstance(item, Mapping):
                self.issues.append(Issue(f"{path}.{key}[{index}]", "must be an object or null"))
            elif item is not None:
                self.element(item, "Element", f"{path}.{key}", path)


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def r4_issues(resource: Any, path: str | None = None) -> list[Issue]:
    """Everything in `resource` that base R4 does not allow (empty when it is valid R4)."""
    walker = _Walker()
    start = path or (resource.get("resourceType") if isinstance(resource, Mapping) else None)
    walker.resource(resource, str(start or "Resource"))
    return walker.issues
