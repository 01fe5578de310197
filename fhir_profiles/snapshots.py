"""A profile's snapshot from its base's snapshot and its own differential.

FHIR R4 publishes a profile as a differential (what it changes) and a snapshot (every element
of the resource with the profile's rules applied), the form validators and form builders read
(https://hl7.org/fhir/R4/profiling.html#snapshot). This follows that algorithm for what
Liaison's and UK Core's differentials use, applied once per step of the chain (base R4, then
UK Core, then Liaison):

- an element the differential names is merged onto the base's element of the same id:
  cardinality (never looser than the base), fixed[x] and pattern[x], binding (never weaker
  than a required one), type (a subset of the base's), constraints (added to the base's),
  slicing, and the descriptive fields;
- a slice (`Patient.identifier:nhsNumber`) is a copy of the sliced element and what is known
  below it, after the sliced element's other slices; it starts at min 0, since a slice need
  not be present for the sliced element to be;
- an element below one the base left whole (`MedicationRequest.subject.identifier`) unrolls
  its parent: the elements of the parent's type (R4 `Reference`), or of the element its
  `contentReference` names.

Anything the base does not have is refused (SnapshotError) rather than guessed.
"""

import copy
from collections.abc import Sequence
from typing import Final

from fhir_profiles.r4_definitions import Json, R4Definitions

_LISTS_BY_KEY: Final = {"constraint": "key", "mapping": "map"}
_SETS: Final = ("alias", "condition")
_BINDING_STRENGTH: Final = ("example", "preferred", "extensible", "required")


class SnapshotError(ValueError):
    """A differential asks for something its base cannot give."""


def _segments(element_id: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for part in element_id.split("."):
        name, _, slice_name = part.partition(":")
        found.append((name, slice_name or None))
    return found


def _join(segments: Sequence[tuple[str, str | None]]) -> str:
    return ".".join(name if not slice_ else f"{name}:{slice_}" for name, slice_ in segments)


def _max_rank(value: str) -> float:
    return float("inf") if value == "*" else float(value)


def _is_primitive(code: str) -> bool:
    return code[:1].islower()


def _check_narrowing(target: Json, change: Json, element_id: str) -> None:
    low = change.get("min")
    if low is not None and low < target.get("min", 0):
        raise SnapshotError(f"{element_id}: min {low} is looser than the base's {target['min']}")
    high = change.get("max")
    if high is not None and "max" in target and _max_rank(high) > _max_rank(target["max"]):
        raise SnapshotError(f"{element_id}: max {high} is looser than the base's {target['max']}")
    base_codes = {t["code"] for t in target.get("type", ())}
    wanted = {t["code"] for t in change.get("type", ())}
    if base_codes and not base_codes & {"Resource", "*"} and not wanted <= base_codes:
        raise SnapshotError(f"{element_id}: type {sorted(wanted - base_codes)} not in the base")
    was = (target.get("binding") or {}).get("strength")
    now = (change.get("binding") or {}).get("strength")
    if was == "required" and now is not None and now != "required":
        raise SnapshotError(f"{element_id}: a required binding cannot become {now}")


def merge(target: Json, change: Json) -> None:
    """Apply one differential element to the snapshot element it constrains, in place."""
    _check_narrowing(target, change, str(change["id"]))
    for key, value in change.items():
        if key in ("id", "path"):
            continue
        if key in _LISTS_BY_KEY:
            field = _LISTS_BY_KEY[key]
            known = {item.get(field) for item in target.get(key, ())}
            added = [copy.deepcopy(i) for i in value if i.get(field) not in known]
            target[key] = [*target.get(key, ()), *added]
        elif key in _SETS:
            target[key] = [
                *target.get(key, ()),
                *(i for i in value if i not in target.get(key, ())),
            ]
        elif key.startswith(("fixed", "pattern")):
            kind = "fixed" if key.startswith("fixed") else "pattern"
            for old in [k for k in target if k.startswith(kind) and k[len(kind) :][:1].isupper()]:
                del target[old]
            target[key] = copy.deepcopy(value)
        else:
            target[key] = copy.deepcopy(value)


class _Builder:
    def __init__(self, base: Sequence[Json], r4: R4Definitions) -> None:
        self.elements = [copy.deepcopy(element) for element in base]
        self.r4 = r4

    def apply(self, change: Json) -> None:
        merge(self.elements[self._locate(str(change["id"]))], change)

    def _index(self, element_id: str) -> int | None:
        for i, element in enumerate(self.elements):
            if element["id"] == element_id:
                return i
        return None

    def _below(self, i: int, *, slices: bool) -> int:
        """The index just after element i's descendants (and its slices, if `slices`)."""
        root = self.elements[i]["id"]
        marks = (root + ".", root + ":") if slices else (root + ".",)
        end = i + 1
        while end < len(self.elements) and self.elements[end]["id"].startswith(marks):
            end += 1
        return end

    def _locate(self, element_id: str) -> int:
        found = self._index(element_id)
        if found is not None:
            return found
        segments = _segments(element_id)
        if len(segments) < 2:
            raise SnapshotError(f"{element_id}: not an element of the base")
        name, slice_name = segments[-1]
        if slice_name is not None:
            return self._add_slice(_join([*segments[:-1], (name, None)]), slice_name)
        self._unroll(self._locate(_join(segments[:-1])), name)
        found = self._index(element_id)
        if found is None:
            raise SnapshotError(f"{element_id}: not an element of the base")
        return found

    def _add_slice(self, sliced_id: str, slice_name: str) -> int:
        i = self._locate(sliced_id)
        subtree = [copy.deepcopy(e) for e in self.elements[i : self._below(i, slices=False)]]
        slice_id = f"{sliced_id}:{slice_name}"
        head = subtree[0]
        head.pop("slicing", None)
        head["sliceName"] = slice_name
        head["min"] = 0
        for element in subtree:
            element["id"] = slice_id + element["id"][len(sliced_id) :]
        at = self._below(i, slices=True)
        self.elements[at:at] = subtree
        return at

    def _unroll(self, i: int, child: str) -> None:
        parent = self.elements[i]
        if self._below(i, slices=False) > i + 1:
            return  # its children are already there
        reference = parent.get("contentReference")
        if reference:
            source_path = str(reference).split("#", 1)[1]
            source = [
                e
                for e in self.elements
                if e["id"].startswith(source_path + ".") and ":" not in e["id"][len(source_path) :]
            ]
        else:
            source_path = self._type_for(parent, child)
            source = list(self.r4.type_snapshot(source_path)[1:])
            if _is_primitive(source_path):
                source = [e for e in source if not e["path"].endswith(".value")]
        children = []
        for element in source:
            made = copy.deepcopy(element)
            made["id"] = parent["id"] + element["id"][len(source_path) :]
            made["path"] = parent["path"] + element["path"][len(source_path) :]
            children.append(made)
        self.elements[i + 1 : i + 1] = children

    def _type_for(self, parent: Json, child: str) -> str:
        """The type to unroll: the parent's only type, or (for a choice) the one that has the
        child the differential names."""
        codes = [str(t["code"]) for t in parent.get("type", ())]
        if len(codes) == 1:
            return codes[0]
        for code in codes:
            if f"{code}.{child}" in self.r4.elements_by_path(code):
                return code
        raise SnapshotError(f"{parent['id']}: none of its types {codes} has an element {child}")


def generate(base: Sequence[Json], differential: Sequence[Json], r4: R4Definitions) -> list[Json]:
    """The snapshot of a profile whose base has snapshot `base`."""
    builder = _Builder(base, r4)
    for change in differential:
        builder.apply(change)
    return builder.elements


def with_snapshot(definition: Json, base: Sequence[Json], r4: R4Definitions) -> Json:
    """A copy of `definition` with the snapshot generated from its differential, the snapshot
    before the differential as HL7's own definitions put it."""
    elements = generate(base, definition["differential"]["element"], r4)
    result: Json = {k: copy.deepcopy(v) for k, v in definition.items() if k != "differential"}
    result["snapshot"] = {"element": elements}
    result["differential"] = copy.deepcopy(definition["differential"])
    return result
