"""Walk a resource against the UK Core profiles it declares (and the UK Core extensions it
carries): cardinality, fixed and pattern values, slices, required bindings."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fhir_profiles.conformance import definitions
from fhir_profiles.issues import Issue
from fhir_profiles.ukcore.package import (
    UKCORE_SD,
    ElementRule,
    StructureDef,
    UkCorePackage,
    from_json,
    merged,
)
from fhir_profiles.ukcore.xml_values import equals, matches

Node = tuple[Any, str]  # a value in the instance and its dotted path


def _children(node: Any, name: str, path: str) -> list[Node]:
    """The values under `name` (a choice `value[x]` matches valueCoding, valueString...)."""
    if not isinstance(node, Mapping):
        return []
    if name.endswith("[x]"):
        stem = name[:-3]
        keys = [k for k in node if k.startswith(stem) and k[len(stem) :][:1].isupper()]
    else:
        keys = [name] if name in node else []
    found: list[Node] = []
    for key in keys:
        value = node[key]
        if isinstance(value, list):
            found += [(item, f"{path}.{key}[{i}]") for i, item in enumerate(value)]
        else:
            found.append((value, f"{path}.{key}"))
    return found


class _Walk:
    def __init__(self, package: UkCorePackage, rules: Mapping[str, ElementRule], label: str):
        self.package = package
        self.rules = rules
        self.label = label
        self.issues: list[Issue] = []

    def _issue(self, path: str, rule: ElementRule, message: str) -> None:
        self.issues.append(Issue(path, f"{rule.id} ({self.label}): {message}"))

    # slices

    def _in_slice(self, item: Any, slice_id: str) -> bool | None:
        """Whether `item` belongs to the slice; None when the slice cannot be told here."""
        base_id, _, _ = slice_id.rpartition(":")
        rule = self.rules.get(slice_id)
        if base_id.endswith("xtension") and rule is not None and rule.type_profiles:
            return isinstance(item, Mapping) and item.get("url") == rule.type_profiles[0]
        base = self.rules.get(base_id)
        if base is None or not base.slicing:
            return None
        for kind, path in base.slicing:
            stated = self.rules.get(f"{slice_id}.{path}")
            want = stated and (stated.fixed or stated.pattern)
            if kind not in ("value", "pattern") or not want:
                return None
            have = [v for v, _ in _children(item, path, "")]
            if not any(matches(v, want[1]) for v in have):
                return False
        return True

    def select(self, element_id: str, root: Any, at: str) -> list[Node] | None:
        parts = element_id.split(".")
        current: list[Node] = [(root, at)]
        prefix = parts[0]
        for part in parts[1:]:
            name, _, slice_name = part.partition(":")
            prefix += f".{name}"
            step: list[Node] = []
            for value, path in current:
                for item, where in _children(value, name, path):
                    inside = self._in_slice(item, f"{prefix}:{slice_name}") if slice_name else True
                    if inside is None:
                        return None
                    if inside:
                        step.append((item, where))
            current = step
            if slice_name:
                prefix += f":{slice_name}"
        return current

    # checks

    def run(self, root: Any, at: str) -> list[Issue]:
        for rule in self.rules.values():
            if "." in rule.id:
                self._cardinality(rule, root, at)
            for node, path in self.select(rule.id, root, at) or ():
                self._values(rule, node, path)
        return self.issues

    def _cardinality(self, rule: ElementRule, root: Any, at: str) -> None:
        if rule.min is None and rule.max in (None, "*"):
            return
        parent_id, _, last = rule.id.rpartition(".")
        parents = self.select(parent_id, root, at)
        name, _, slice_name = last.partition(":")
        for parent, path in parents or ():
            items = _children(parent, name, path)
            if slice_name:
                flags = [self._in_slice(value, rule.id) for value, _ in items]
                if None in flags:
                    return
                items = [item for item, inside in zip(items, flags, strict=True) if inside]
            where = f"{path}.{name.removesuffix('[x]')}"
            if rule.min is not None and len(items) < rule.min:
                self._issue(where, rule, f"at least {rule.min} required, found {len(items)}")
            if rule.max not in (None, "*") and len(items) > int(str(rule.max)):
                self._issue(where, rule, f"at most {rule.max} allowed, found {len(items)}")

    def _values(self, rule: ElementRule, node: Any, path: str) -> None:
        if rule.fixed is not None and not equals(node, rule.fixed[1]):
            self._issue(path, rule, f"must be fixed{rule.fixed[0]} {rule.fixed[1]!r}")
        if rule.pattern is not None and not matches(node, rule.pattern[1]):
            self._issue(path, rule, f"must match pattern{rule.pattern[0]} {rule.pattern[1]!r}")
        if rule.binding and rule.binding[0] == "required" and rule.binding[1]:
            self._binding(rule, rule.binding[1], node, path)

    def _binding(self, rule: ElementRule, value_set: str, node: Any, path: str) -> None:
        allowed = self.package.codes(value_set)
        if allowed is None:
            return
        systems = {system for system, _ in allowed}
        if isinstance(node, str):
            ok = any(code == node for _, code in allowed)
        else:
            codings = node.get("coding", [node]) if isinstance(node, Mapping) else []
            ok = any(
                (c.get("system"), c.get("code")) in allowed
                for c in codings
                if isinstance(c, Mapping)
            )
            if not ok and any(c.get("system") not in systems for c in codings):
                ok = False
        if not ok:
            self._issue(path, rule, f"has no code from the required value set {value_set}")


def _extensions(node: Any, path: str) -> Iterable[Node]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "contained" or not isinstance(value, (list, Mapping)):
                continue
            items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
            for index, item in items:
                if isinstance(item, Mapping) and "resourceType" in item:
                    continue  # a contained or entry resource: checked on its own
                where = f"{path}.{key}" + ("" if index is None else f"[{index}]")
                if key in ("extension", "modifierExtension") and isinstance(item, Mapping):
                    yield item, where
                yield from _extensions(item, where)


def _chains(declared: Sequence[str], package: UkCorePackage) -> list[list[StructureDef]]:
    """Each declared profile followed down to UK Core, base first: a UK Core profile's own
    chain, or a Liaison profile's (its JSON differentials) on top of its UK Core base."""
    chains: list[list[StructureDef]] = []
    for url in dict.fromkeys(u.split("|", 1)[0] for u in declared):
        liaison: list[StructureDef] = []
        current: str | None = url
        while current and current not in package.structures:
            found = definitions().get(current)
            if found is None or found.get("resourceType") != "StructureDefinition":
                current = None
                break
            liaison.insert(0, from_json(found))
            current = str(found.get("baseDefinition"))
        if current:
            chains.append(package.chain(current) + liaison)
    return chains


def ukcore_issues(
    resource: Mapping[str, Any], package: UkCorePackage, *, at: str | None = None
) -> list[Issue]:
    """Every way `resource` (and a Bundle's entries, and contained resources) breaks the UK
    Core profiles it declares or the UK Core extensions it carries."""
    where = at or str(resource.get("resourceType"))
    meta = resource.get("meta")
    declared = [str(u) for u in meta.get("profile", ())] if isinstance(meta, Mapping) else []
    issues: list[Issue] = []
    for chain in _chains(declared, package):
        issues += _Walk(package, merged(chain), chain[-1].name).run(resource, where)
    for extension, path in _extensions(resource, where):
        url = str(extension.get("url", ""))
        if not url.startswith(UKCORE_SD):
            continue
        chain = package.chain(url)
        if not chain:
            issues.append(Issue(f"{path}.url", f"{url} is not an extension UK Core defines"))
            continue
        issues += _Walk(package, merged(chain), chain[-1].name).run(extension, path)
    for index, inner in enumerate(resource.get("contained") or ()):
        if isinstance(inner, Mapping):
            issues += ukcore_issues(inner, package, at=f"{where}.contained[{index}]")
    for index, entry in enumerate(resource.get("entry") or ()):
        inner = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(inner, Mapping):
            issues += ukcore_issues(inner, package, at=f"{where}.entry[{index}].resource")
    return issues


def conformance_issues(resource: Mapping[str, Any], package: UkCorePackage) -> list[Issue]:
    """Base R4 and Liaison's profiles (validation.resource_issues), then UK Core."""
    from fhir_profiles.validation import resource_issues

    return resource_issues(resource) + ukcore_issues(resource, package)
