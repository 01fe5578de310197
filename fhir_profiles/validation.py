"""Validate a FHIR resource: base R4 structure, then Liaison's profiles.

In order, every resource is checked for
1. structure against the `fhir.resources.R4B` models (datatypes, cardinality, unknown elements);
2. base R4 itself (`r4_shape`: R4 element names, primitive formats, ele-1, ext-1, and the
   required bindings of base R4, which fhir.resources does not enforce);
3. the base R4 invariants in `definitions/base-r4-invariants.json` (dom-2..dom-5, Task inv-1);
4. every Liaison profile it declares in `meta.profile` (or the ones the caller names), with
   the profiles of any Liaison extension it carries, read from the StructureDefinitions in
   `definitions/`.
The entries of a Bundle are checked the same way. A MedicationRequest, CommunicationRequest,
Task or DetectedIssue that names no Liaison profile is refused: everything Liaison emits
declares what it conforms to.
"""

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Final

import pydantic
from fhirpathpy import compile as compile_fhirpath

from fhir_profiles import systems
from fhir_profiles.conformance import base_invariants, definitions
from fhir_profiles.issues import InvalidResource, Issue
from fhir_profiles.profiles import check, profile
from fhir_profiles.r4_model import R4_MODEL
from fhir_profiles.r4_shape import r4_issues

__all__ = [
    "InvalidResource",
    "Issue",
    "validate_all",
    "validate_changed",
    "validate_emitted",
    "validate_resource",
]

# Resource types Liaison profiles: each instance must name one of Liaison's profiles.
PROFILED: Final[Mapping[str, frozenset[str]]] = {
    "MedicationRequest": frozenset(
        {systems.PROFILE_MEDICATION_REQUEST, systems.PROFILE_MEDICATION_REQUEST_SUBMISSION}
    ),
    "CommunicationRequest": frozenset({systems.PROFILE_COMMUNICATION_REQUEST}),
    "Task": frozenset({systems.PROFILE_TASK}),
    "DetectedIssue": frozenset({systems.PROFILE_DETECTED_ISSUE}),
    "Patient": frozenset({systems.PROFILE_PATIENT}),
}


def _path(resource_type: str, loc: Iterable[int | str]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType"
        else:
            path += f".{part}"
    return path


def _structural_issues(resource: Mapping[str, Any], resource_type: str, at: str) -> list[Issue]:
    # Imported here: of the API's routes only those taking FHIR resources from a client check
    # their structure this way, and the R4B models are about 9 MB of a process that loads them.
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        model = None
    if model is None or not issubclass(model, Resource):
        return [Issue(f"{at}.resourceType", f"{resource_type!r} is not a resource type")]
    try:
        model.model_validate(dict(resource))
    except pydantic.ValidationError as error:
        return [
            Issue(_path(at, detail["loc"]), detail["msg"].removeprefix("Value error, "))
            for detail in error.errors()
        ]
    return []


@cache
def _invariant(expression: str) -> Callable[[Any, Mapping[str, Any]], list[Any]]:
    evaluate: Callable[[Any, Mapping[str, Any]], list[Any]] = compile_fhirpath(expression, R4_MODEL)
    return evaluate


def _invariant_issues(resource: Mapping[str, Any], at: str) -> list[Issue]:
    resource_type = resource.get("resourceType")
    domain = resource_type not in ("Bundle", "Parameters", "Binary")
    issues = []
    for invariant in base_invariants():
        applies = invariant.applies_to == resource_type or (
            invariant.applies_to == "DomainResource" and domain
        )
        if not applies or invariant.checked_by is not None:
            continue
        result = _invariant(invariant.expression)(dict(resource), {"resource": resource})
        if any(item is not True for item in result):
            issues.append(Issue(at, f"{invariant.key}: {invariant.human}"))
    return issues


def _extensions(node: Any, path: str) -> Iterable[tuple[Mapping[str, Any], str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("extension", "modifierExtension") and isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, Mapping):
                        yield item, f"{path}.{key}[{index}]"
            if key == "resourceType":
                continue
            if isinstance(value, list):
                for index, item in enumerate(value):
                    yield from _extensions(item, f"{path}.{key}[{index}]")
            elif isinstance(value, Mapping):
                yield from _extensions(value, f"{path}.{key}")


def _extension_issues(resource: Mapping[str, Any], at: str) -> list[Issue]:
    issues = []
    for extension, path in _extensions(resource, at):
        url = str(extension.get("url", ""))
        if not url.startswith(systems.LIAISON_CANONICAL):
            continue  # others' extensions are theirs to define; sub-extensions have short urls
        definition = profile(url)
        if definition is None or definition.type != "Extension":
            issues.append(Issue(f"{path}.url", f"{url} is not an extension Liaison defines"))
            continue
        issues += check(definition, extension, path, resource)
    return issues


def _profile_issues(
    resource: Mapping[str, Any], at: str, profiles: Sequence[str] | None
) -> list[Issue]:
    resource_type = str(resource.get("resourceType"))
    declared = profiles
    if declared is None:
        meta = resource.get("meta")
        declared = (
            [str(url) for url in (meta or {}).get("profile", ())]
            if isinstance(meta, Mapping)
            else []
        )
    issues = []
    known = [url for url in declared if url.split("|", 1)[0] in PROFILED.get(resource_type, ())]
    if resource_type in PROFILED and not known:
        issues.append(
            Issue(f"{at}.meta.profile", f"must name one of {sorted(PROFILED[resource_type])}")
        )
    for url in declared:
        if not url.startswith(systems.LIAISON_CANONICAL):
            continue  # e.g. a UK Core profile: base rules of ours already derive from it
        definition = profile(url.split("|", 1)[0])
        if definition is None or definition.type != resource_type:
            issues.append(Issue(f"{at}.meta.profile", f"{url} is not a {resource_type} profile"))
            continue
        issues += check(definition, resource, at)
    return issues


_INVARIANT: Final = re.compile(r"[a-z0-9]+-[a-z0-9-]+: ")


def _dedupe(issues: Iterable[Issue]) -> list[Issue]:
    # The layers often see the same fault (a missing element is structural and a profile
    # rule); the caller needs each place once, with the first, most basic message. Broken
    # invariants all stay: several can fail at the same place, each for its own reason.
    seen: set[object] = set()
    unique = []
    for issue in issues:
        key: object = (issue.path, issue.message) if _INVARIANT.match(issue.message) else issue.path
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    return unique


def resource_issues(
    resource: Mapping[str, Any], *, profiles: Sequence[str] | None = None, at: str | None = None
) -> list[Issue]:
    """Every problem in `resource` (empty when it is valid); `profiles` overrides meta.profile."""
    resource_type = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if not isinstance(resource_type, str):
        return [Issue("resourceType", "is required")]
    where = at or resource_type
    # Structure is checked once, on the outermost resource: both layers walk into entries.
    issues = _structural_issues(resource, resource_type, where)
    issues += r4_issues(resource, where)
    if not any(issue.path.endswith(".resourceType") for issue in issues):
        issues += _rule_issues(resource, where, profiles)
    return _dedupe(issues)


def _rule_issues(
    resource: Mapping[str, Any], where: str, profiles: Sequence[str] | None
) -> list[Issue]:
    issues = _invariant_issues(resource, where)
    issues += _extension_issues(resource, where)
    issues += _profile_issues(resource, where, profiles)
    if resource.get("resourceType") == "Bundle":
        for index, entry in enumerate(resource.get("entry") or ()):
            inner = entry.get("resource") if isinstance(entry, Mapping) else None
            if isinstance(inner, Mapping) and isinstance(inner.get("resourceType"), str):
                issues += _rule_issues(inner, f"{where}.entry[{index}].resource", None)
    return issues


def validate_resource(
    resource: Mapping[str, Any], *, profiles: Sequence[str] | None = None
) -> None:
    """Raise InvalidResource listing every problem found; return None when the resource is fine."""
    issues = resource_issues(resource, profiles=profiles)
    if issues:
        raise InvalidResource(issues)


def validate_all(resources: Iterable[Mapping[str, Any]]) -> None:
    """Validate each resource; raise one InvalidResource with the issues of all of them."""
    issues: list[Issue] = []
    for resource in resources:
        issues += resource_issues(resource)
    if issues:
        raise InvalidResource(issues)


def validate_emitted(resources: Iterable[Mapping[str, Any]]) -> None:
    """The run-time check of resources Liaison's own builders made: the layers whose verdict
    the input can change. Base R4 element names, primitive formats, ele-1 and required
    bindings (`r4_shape`), Liaison's extensions and every declared Liaison profile (fixed
    values, patterns, cardinality of slices, the NHS number check digit, ODS code shapes).

    Left out, because nothing a request carries can change their verdict: the R4B models
    (datatypes and cardinality, fixed by the builder code) and the base R4 invariants
    (contained resources and narratives, Task's lastModified beside authoredOn, both set
    from one instant). The builder tests run `validate_all` and the UK Core validator over
    every product, plan and safety case, so a builder change that breaks them fails there;
    together the two cost over half of a submission's validation time.
    Raise InvalidResource with every issue found."""
    issues: list[Issue] = []
    for resource in resources:
        resource_type = str(resource.get("resourceType"))
        found = r4_issues(resource, resource_type)
        found += _extension_issues(resource, resource_type)
        found += _profile_issues(resource, resource_type, None)
        issues += _dedupe(found)
    if issues:
        raise InvalidResource(issues)


def validate_changed(
    resource: Mapping[str, Any], elements: Collection[str], *, invariants: Collection[str] = ()
) -> None:
    """The run-time check of a resource Liaison made from a stored one that passed
    `validate_resource` (or `validate_emitted`) by setting only the top-level `elements`:
    what the change can sway. Those elements against base R4 (names, primitive formats,
    ele-1, required bindings: `r4_shape`), and the base R4 `invariants` (keys) that relate
    them to the elements left as they were (Task inv-1: lastModified >= authoredOn).

    Left out, because the change cannot alter their verdict: the elements it did not set,
    and the R4B models and Liaison's profile rules over the ones it did, whose values the
    calling code fixes (fhir_profiles.fulfilment; tests/fhir_profiles/test_fulfilment.py
    runs `validate_resource` over every result it can give). Raise InvalidResource with
    every issue found."""
    resource_type = str(resource.get("resourceType"))
    changed: dict[str, Any] = {"resourceType": resource_type}
    changed.update((key, resource[key]) for key in elements if key in resource)
    issues = r4_issues(changed, resource_type)
    for invariant in base_invariants():
        if invariant.key not in invariants or invariant.applies_to != resource_type:
            continue
        result = _invariant(invariant.expression)(dict(resource), {"resource": resource})
        if any(item is not True for item in result):
            issues.append(Issue(resource_type, f"{invariant.key}: {invariant.human}"))
    if issues:
        raise InvalidResource(_dedupe(issues))


def conformance_resources() -> Iterable[Mapping[str, Any]]:
    """Liaison's own StructureDefinitions, CodeSystems, ValueSets and ConceptMap."""
    for group in definitions().by_type.values():
        yield from group
