"""Check a resource against one of Liaison's StructureDefinitions (their differentials).

The engine reads the JSON under `definitions/` and enforces, element by element:
cardinality (min/max, per occurrence of the parent), fixed[x] and pattern[x] values,
required bindings (through `terminology`), FHIRPath invariants (fhirpathpy), the types
allowed for a choice element, and slicing by value/pattern discriminators (open or closed).
A derived profile (baseDefinition another Liaison profile) gets its base's rules too.

It understands exactly the subset of ElementDefinition that Liaison's profiles use; a
definition using anything else is refused when loaded, so a rule can never be silently
ignored. Reference targetProfile and mustSupport are documentation here: GP systems read
them, the engine does not enforce them.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from fhirpathpy import compile as compile_fhirpath

from fhir_profiles.conformance import definitions
from fhir_profiles.issues import Issue
from fhir_profiles.r4_model import R4_MODEL
from fhir_profiles.terminology import expand

_DOCUMENTATION: Final = frozenset(
    {"id", "path", "sliceName", "short", "definition", "comment", "requirements", "mustSupport"}
)
_ENFORCED: Final = frozenset({"min", "max", "binding", "constraint", "type", "slicing"})
_FIXED: Final = re.compile(r"(fixed|pattern)([A-Z][A-Za-z]*)")


class UnsupportedDefinition(ValueError):
    """A StructureDefinition uses an ElementDefinition feature the engine does not enforce."""


@dataclass(frozen=True)
class Segment:
    name: str  # element name, "medication[x]" for a choice
    slice: str | None


@dataclass(frozen=True)
class Constraint:
    key: str
    human: str
    expression: str
    evaluate: Callable[[Any, Mapping[str, Any]], list[Any]]


@dataclass(frozen=True)
class Rule:
    id: str
    segments: tuple[Segment, ...]
    min: int | None
    max: str | None
    fixed: Any | None
    pattern: Any | None
    required_value_set: str | None
    constraints: tuple[Constraint, ...]
    type_codes: tuple[str, ...]
    type_profiles: tuple[str, ...]
    slicing: Mapping[str, Any] | None


@dataclass(frozen=True)
class Profile:
    url: str
    type: str
    rules: tuple[Rule, ...]
    by_id: Mapping[str, Rule]


def _segments(element_id: str) -> tuple[Segment, ...]:
    segments = []
    for part in element_id.split("."):
        name, _, slice_name = part.partition(":")
        segments.append(Segment(name, slice_name or None))
    return tuple(segments)


@cache
def _compiled(expression: str, root: bool) -> Callable[[Any, Mapping[str, Any]], list[Any]]:
    # Parsing a FHIRPath expression costs ~0.1 s in fhirpathpy: compile each once. The R4 model
    # lets a resource-level expression resolve choice elements (content -> contentString).
    evaluate: Callable[[Any, Mapping[str, Any]], list[Any]] = compile_fhirpath(
        expression, R4_MODEL if root else None
    )
    return evaluate


def _rule(element: Mapping[str, Any], type_name: str) -> Rule:
    unknown = {
        key
        for key in element
        if key not in _DOCUMENTATION | _ENFORCED and not _FIXED.fullmatch(key)
    }
    if unknown:
        raise UnsupportedDefinition(f"{element['id']}: unsupported {sorted(unknown)}")
    fixed = next((value for key, value in element.items() if key.startswith("fixed")), None)
    pattern = next((value for key, value in element.items() if key.startswith("pattern")), None)
    binding = element.get("binding") or {}
    slicing = element.get("slicing")
    if slicing is not None:
        for discriminator in slicing.get("discriminator", ()):
            if discriminator.get("type") not in ("value", "pattern"):
                raise UnsupportedDefinition(f"{element['id']}: discriminator {discriminator}")
    root = "." not in element["id"]
    constraints = tuple(
        Constraint(
            item["key"],
            item["human"],
            item["expression"],
            _compiled(item["expression"], root),
        )
        for item in element.get("constraint", ())
        if item.get("severity", "error") == "error"
    )
    types = element.get("type", ())
    segments = _segments(element["id"])
    if segments[0].name != type_name:
        raise UnsupportedDefinition(f"{element['id']} is not inside {type_name}")
    return Rule(
        id=element["id"],
        segments=segments,
        min=element.get("min"),
        max=element.get("max"),
        fixed=fixed,
        pattern=pattern,
        required_value_set=binding.get("valueSet")
        if binding.get("strength") == "required"
        else None,
        constraints=constraints,
        type_codes=tuple(item["code"] for item in types),
        type_profiles=tuple(url for item in types for url in item.get("profile", ())),
        slicing=slicing,
    )


def _merge(base: Mapping[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**base, **derived}
    keys = {item["key"] for item in derived.get("constraint", ())}
    merged["constraint"] = [
        *(item for item in base.get("constraint", ()) if item["key"] not in keys),
        *derived.get("constraint", ()),
    ]
    return merged


@cache
def profile(url: str) -> Profile | None:
    """The Liaison profile at `url` with its Liaison base profiles' rules; None if unknown."""
    chain: list[Mapping[str, Any]] = []
    current = definitions().get(url)
    while current is not None and current.get("resourceType") == "StructureDefinition":
        chain.append(current)
        current = definitions().get(str(current.get("baseDefinition", "")))
    if not chain:
        return None
    type_name = str(chain[0]["type"])
    merged: dict[str, dict[str, Any]] = {}
    for structure in reversed(chain):
        for element in structure["differential"]["element"]:
            previous = merged.get(element["id"])
            merged[element["id"]] = _merge(previous, element) if previous else dict(element)
    rules = tuple(_rule(element, type_name) for element in merged.values())
    return Profile(url, type_name, rules, {rule.id: rule for rule in rules})


# --- walking the instance ---------------------------------------------------------------


def _children(node: Mapping[str, Any], name: str, path: str) -> list[tuple[Any, str]]:
    if name.endswith("[x]"):
        prefix = name[:-3]
        keys = [key for key in node if key.startswith(prefix) and key[len(prefix) :][:1].isupper()]
    else:
        keys = [name] if name in node else []
    found: list[tuple[Any, str]] = []
    for key in keys:
        value = node[key]
        if isinstance(value, list):
            found += [(item, f"{path}.{key}[{index}]") for index, item in enumerate(value)]
        else:
            found.append((value, f"{path}.{key}"))
    return found


def _resolve(node: Any, dotted: str) -> list[Any]:
    values = [node]
    for name in dotted.split("."):
        step: list[Any] = []
        for value in values:
            if isinstance(value, Mapping) and name in value:
                item = value[name]
                step += item if isinstance(item, list) else [item]
        values = step
    return values


def matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x] semantics: every element of the pattern appears in the value."""
    if isinstance(pattern, Mapping):
        if not isinstance(value, Mapping):
            return False
        return all(
            key in value and matches_pattern(value[key], item) for key, item in pattern.items()
        )
    if isinstance(pattern, list | tuple):
        if not isinstance(value, list | tuple):
            return False
        return all(any(matches_pattern(have, want) for have in value) for want in pattern)
    return bool(value == pattern)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class _Check:
    def __init__(self, definition: Profile, root: Mapping[str, Any], at: str, resource: Any):
        self.profile = definition
        self.root = root
        self.at = at
        self.resource = resource  # %resource for invariants
        self.issues: list[Issue] = []

    # slices

    def _slice_value(self, slice_id: str, path: str) -> tuple[str, Any] | None:
        rule = self.profile.by_id.get(slice_id)
        if path == "url" and rule is not None and rule.type_profiles:
            return "value", rule.type_profiles[0]
        child = self.profile.by_id.get(f"{slice_id}.{path}")
        if child is None:
            return None
        if child.fixed is not None:
            return "value", child.fixed
        if child.pattern is not None:
            return "pattern", child.pattern
        return None

    def _in_slice(self, item: Any, slice_id: str) -> bool:
        base_id = slice_id.rsplit(":", 1)[0]
        slicing = self.profile.by_id[base_id].slicing if base_id in self.profile.by_id else None
        if not slicing:
            raise UnsupportedDefinition(f"{slice_id}: a slice without slicing on {base_id}")
        for discriminator in slicing["discriminator"]:
            expected = self._slice_value(slice_id, discriminator["path"])
            if expected is None:
                raise UnsupportedDefinition(f"{slice_id}: no value for {discriminator['path']}")
            kind, value = expected
            actual = _resolve(item, discriminator["path"])
            if kind == "value" and not any(_plain(have) == _plain(value) for have in actual):
                return False
            if kind == "pattern" and not any(matches_pattern(have, value) for have in actual):
                return False
        return True

    def _slice_ids(self, base_id: str) -> list[str]:
        return [
            rule.id
            for rule in self.profile.rules
            if rule.id.startswith(f"{base_id}:") and "." not in rule.id[len(base_id) :]
        ]

    # selection

    def _select(self, segments: Sequence[Segment]) -> list[tuple[Any, str]]:
        current: list[tuple[Any, str]] = [(self.root, self.at)]
        prefix = segments[0].name
        for segment in segments[1:]:
            prefix += f".{segment.name}"
            slice_id = f"{prefix}:{segment.slice}" if segment.slice else None
            step: list[tuple[Any, str]] = []
            for value, path in current:
                if not isinstance(value, Mapping):
                    continue
                for child, where in _children(value, segment.name, path):
                    if slice_id is None or self._in_slice(child, slice_id):
                        step.append((child, where))
            current = step
            if slice_id is not None:
                prefix = slice_id
        return current

    def _missing_path(self, rule: Rule, parent_path: str) -> str:
        last = rule.segments[-1]
        name = last.name.removesuffix("[x]")
        if last.slice is None:
            return f"{parent_path}.{name}"
        discriminator = self._slice_value(rule.id, "url" if name.endswith("xtension") else "system")
        if discriminator is not None and name.endswith("xtension"):
            return f"{parent_path}.{name}('{discriminator[1]}')"
        if discriminator is not None:
            return f"{parent_path}.{name}.where(system = '{discriminator[1]}')"
        return f"{parent_path}.{name}:{last.slice}"

    # checks

    def run(self) -> list[Issue]:
        for rule in self.profile.rules:
            if len(rule.segments) > 1:
                self._cardinality(rule)
            nodes = self._select(rule.segments)
            for node, path in nodes:
                self._values(rule, node, path)
            if rule.slicing and rule.slicing.get("rules") == "closed":
                slice_ids = self._slice_ids(rule.id)
                for node, path in nodes:
                    if not any(self._in_slice(node, slice_id) for slice_id in slice_ids):
                        self.issues.append(
                            Issue(path, "is not one of the elements this profile allows here")
                        )
        return self.issues

    def _cardinality(self, rule: Rule) -> None:
        last = rule.segments[-1]
        slice_id = rule.id if last.slice else None
        for parent, parent_path in self._select(rule.segments[:-1]):
            if not isinstance(parent, Mapping):
                continue
            children = [
                (child, where)
                for child, where in _children(parent, last.name, parent_path)
                if slice_id is None or self._in_slice(child, slice_id)
            ]
            if rule.min and len(children) < rule.min:
                self.issues.append(
                    Issue(
                        self._missing_path(rule, parent_path),
                        "is required" if rule.min == 1 else f"needs at least {rule.min}",
                    )
                )
            if rule.max not in (None, "*") and len(children) > int(str(rule.max)):
                where = children[int(str(rule.max))][1] if children else parent_path
                self.issues.append(
                    Issue(
                        where,
                        "is not allowed here" if rule.max == "0" else f"allows at most {rule.max}",
                    )
                )

    def _values(self, rule: Rule, node: Any, path: str) -> None:
        if rule.fixed is not None and _plain(node) != _plain(rule.fixed):
            self.issues.append(Issue(path, f"must be {_plain(rule.fixed)!r}"))
        if rule.pattern is not None and not matches_pattern(node, rule.pattern):
            self.issues.append(Issue(path, f"must include {_plain(rule.pattern)!r}"))
        if rule.required_value_set is not None:
            self._binding(rule.required_value_set, node, path)
        for constraint in rule.constraints:
            self._constraint(constraint, node, path, root=len(rule.segments) == 1)
        self._types(rule, node, path)

    def _types(self, rule: Rule, node: Any, path: str) -> None:
        name = rule.segments[-1].name
        if not name.endswith("[x]") or not rule.type_codes:
            return
        allowed = {code[:1].upper() + code[1:] for code in rule.type_codes}
        used = path.rsplit(".", 1)[-1].split("[", 1)[0][len(name) - 3 :]
        if used not in allowed:
            self.issues.append(Issue(path, f"type {used} is not allowed; use {sorted(allowed)}"))

    def _binding(self, value_set: str, node: Any, path: str) -> None:
        codes = expand(value_set)
        if codes is None:
            return
        if isinstance(node, str):
            if node not in {code for _, code in codes}:
                self.issues.append(Issue(path, f"{node!r} is not in {value_set}"))
            return
        if not isinstance(node, Mapping):
            return
        codings = node.get("coding") if "coding" in node else [node]
        pairs = {
            (coding.get("system"), coding.get("code"))
            for coding in codings or ()
            if isinstance(coding, Mapping)
        }
        if not pairs & codes:
            self.issues.append(Issue(path, f"needs a code from {value_set}"))

    def _constraint(self, constraint: Constraint, node: Any, path: str, *, root: bool) -> None:
        plain = _plain(node)
        key = None
        if _reads_only_its_node(constraint.expression):
            key = (constraint.expression, json.dumps(plain, sort_keys=True, default=str))
            if key in _VERDICTS:
                if _VERDICTS[key] is not None:
                    self.issues.append(Issue(path, str(_VERDICTS[key])))
                return
        message = None
        try:
            result = constraint.evaluate(plain, {"resource": self.resource})
            if any(item is not True for item in result):
                message = f"{constraint.key}: {constraint.human}"
        except Exception as error:  # a bad invariant must refuse the resource, not crash
            message = f"{constraint.key}: could not be evaluated ({error})"
        if key is not None:
            if len(_VERDICTS) >= _VERDICTS_KEPT:
                _VERDICTS.clear()
            _VERDICTS[key] = message
        if message is not None:
            self.issues.append(Issue(path, message))


# A constraint that reads nothing but its own node (no %resource, no clock) has the same answer
# for the same node. fhirpathpy is slow, and one recommendation's resources repeat nodes: the
# NHS number rule alone ran 16 times per submission, a fifth of intake's validation time
# (bench/profile.py, docs/BENCHMARKS.md). Bounded; emptied when full.
_VERDICTS: dict[tuple[str, str], str | None] = {}
_VERDICTS_KEPT: Final = 4096
_CLOCK: Final = re.compile(r"\b(now|today|timeOfDay)\s*\(")


@cache
def _reads_only_its_node(expression: str) -> bool:
    return "%" not in expression and not _CLOCK.search(expression)


def check(
    definition: Profile, root: Mapping[str, Any], at: str, resource: Any | None = None
) -> list[Issue]:
    """Everything in `root` (a resource, or an extension for an Extension profile) that breaks
    `definition`; `at` is its location, `resource` the resource it belongs to."""
    return _Check(definition, root, at, resource if resource is not None else root).run()


def all_profiles() -> Iterable[Profile]:
    for structure in definitions().by_type.get("StructureDefinition", ()):
        found = profile(str(structure["url"]))
        if found is not None:
            yield found
