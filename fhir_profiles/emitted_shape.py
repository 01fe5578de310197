"""The run-time check of what Liaison's builders emit, done in full once per shape.

`validation.validate_emitted` walks every profile rule over every element: about 3 ms for
one recommendation's resources, nearly all of it spent on parts no request can change. A
request changes the verdict only through a few kinds of leaf: resource ids and the
references to them, the NHS number, ODS codes, the recommendation's UUID, instants, the
birth date, free text and the narrative. `check_emitted` replaces each such leaf by a token
of its kind (the same value always the same token within a resource, instants numbered in
time order), so that equality and order between them survive: a rule relating two of them
(Task `lastModified >= authoredOn`, a reference to a resource's id) sees the same relation in
the skeleton. Every other leaf is kept as it is, so it is part of the skeleton.

The digest of a skeleton is remembered once `validate_emitted` has accepted a resource with
it. A later resource with the same skeleton is accepted when each masked leaf passes the
plain check of its kind, which accepts only what the validator accepts at those places
(tests/fhir_profiles/test_emitted_shape.py proves it, place by place, with good and bad
values). Anything else (a new shape, a leaf the plain check refuses) goes to
`validate_emitted`, which has the last word and names the issues.
"""

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import orjson

from fhir_profiles import systems
from fhir_profiles.validation import validate_emitted

__all__ = ["MASKED_PATHS", "check_emitted", "masked_leaves"]

_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The instants the builders write (datetime.isoformat of an aware UTC time, or "Z"); R4's
# dateTime and instant formats both accept them (http://hl7.org/fhir/R4/datatypes.html).
_INSTANT: Final = re.compile(
    r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|\+00:00)"
)
_DATE: Final = re.compile(r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
# The ODS code rule of Liaison's profiles (definitions/*.json: value.matches(...)).
_ODS: Final = re.compile(r"[A-Z0-9]{3,10}")
_REFERENCE: Final = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_XHTML_OPEN: Final = '<div xmlns="http://www.w3.org/1999/xhtml">'


def _text(value: str) -> bool:
    # R4 JSON strings: not empty, not only whitespace (ele-1).
    return bool(value.strip())


def _nhs_number(value: str) -> bool:
    # Modulus 11, as the profiles' nhs-number rule: NHS Data Dictionary, "NHS Number".
    if len(value) != 10 or not value.isascii() or not value.isdigit():
        return False
    check = 11 - sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True)) % 11
    return check != 10 and (check % 11) == int(value[9])


def _xhtml(value: str) -> bool:
    inner = value[len(_XHTML_OPEN) : -len("</div>")]
    return value.startswith(_XHTML_OPEN) and value.endswith("</div>") and _text(inner)


def _date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


_CHECKS: Final[Mapping[str, Callable[[str], bool]]] = {
    "text": _text,
    "xhtml": _xhtml,
    "id": lambda v: bool(_ID.fullmatch(v)),
    "uuid": lambda v: bool(_UUID.fullmatch(v)),
    "nhs-number": _nhs_number,
    "ods-code": lambda v: bool(_ODS.fullmatch(v)),
    "instant": lambda v: bool(_INSTANT.fullmatch(v)),
    "date": _date,
}

# Places (paths without list indices) whose string is masked, by kind. Identifier values
# are masked by their system wherever they are; references by their target's id.
MASKED_PATHS: Final[Mapping[str, str]] = {
    **{
        path: "text"
        for path in (
            "Patient.name.family",
            "Patient.name.given",
            "Practitioner.name.text",
            "Practitioner.telecom.value",
            "PractitionerRole.telecom.value",
            "PractitionerRole.practitioner.display",
            "MedicationRequest.subject.display",
            "MedicationRequest.requester.display",
            "MedicationRequest.note.text",
            "MedicationRequest.dosageInstruction.text",
            "MedicationRequest.extension.valueCodeableConcept.text",
            "MedicationRequest.extension.extension.valueContactDetail.name",
            "MedicationRequest.extension.extension.valueContactDetail.telecom.value",
            "CommunicationRequest.subject.display",
            "CommunicationRequest.requester.display",
            "CommunicationRequest.payload.contentString",
            "Task.for.display",
            "Task.requester.display",
            "DetectedIssue.patient.display",
        )
    },
    **{
        path: "instant"
        for path in (
            "MedicationRequest.authoredOn",
            "MedicationRequest.extension.extension.valueDateTime",
            "CommunicationRequest.authoredOn",
            "Task.authoredOn",
            "Task.lastModified",
            "Task.restriction.period.start",
            "Task.restriction.period.end",
            "DetectedIssue.identifiedDateTime",
        )
    },
    "Patient.birthDate": "date",
    **{f"{t}.text.div": "xhtml" for t in ("Patient", "Practitioner", "PractitionerRole")},
    **{
        f"{t}.text.div": "xhtml"
        for t in ("MedicationRequest", "CommunicationRequest", "Task", "DetectedIssue")
    },
}
_BY_SYSTEM: Final[Mapping[str, str]] = {
    systems.NHS_NUMBER: "nhs-number",
    systems.ODS_ORGANIZATION_CODE: "ods-code",
    systems.RECOMMENDATION_ID: "uuid",
}


class _Masker:
    """One resource's skeleton and its masked leaves: (kind, value, path)."""

    def __init__(self) -> None:
        self.leaves: list[tuple[str, str, str]] = []
        self._tokens: dict[tuple[str, str], str] = {}
        self._instants: list[str] = []

    def token(self, kind: str, value: str, path: str) -> str:
        self.leaves.append((kind, value, path))
        if kind == "instant":
            self._instants.append(value)
            return f"\x00instant:{value}"  # renumbered in time order by `instants`
        found = self._tokens.get((kind, value))
        if found is None:
            found = self._tokens[(kind, value)] = f"\x00{kind}:{len(self._tokens)}"
        return found

    def instants(self) -> dict[str, str] | None:
        """Each instant's token: its place in time order (equal instants share one); None
        when one is not an instant the plain check accepts."""
        if not all(_INSTANT.fullmatch(v) for v in self._instants):
            return None
        ordered = sorted(set(self._instants), key=datetime.fromisoformat)
        return {f"\x00instant:{v}": f"\x00instant:{n}" for n, v in enumerate(ordered)}

    def node(self, node: Any, path: str, root: bool = False) -> Any:
        if isinstance(node, Mapping):
            system = node.get("system")
            kind = _BY_SYSTEM.get(system) if isinstance(system, str) else None
            masked: dict[str, Any] = {}
            for key, value in node.items():
                where = f"{path}.{key}"
                if isinstance(value, str):
                    masked[key] = self.leaf(key, value, where, root, kind)
                elif isinstance(value, list):
                    masked[key] = [
                        self.leaf(key, v, where, False, None)
                        if isinstance(v, str)
                        else self.node(v, where)
                        for v in value
                    ]
                else:
                    masked[key] = self.node(value, where)
            return masked
        return node

    def leaf(self, key: str, value: str, where: str, root: bool, system_kind: str | None) -> str:
        if root and key == "id":
            return self.token("id", value, where)
        if key == "value" and system_kind is not None:
            return self.token(system_kind, value, where)
        if key == "reference" and (target := _REFERENCE.fullmatch(value)):
            return f"{target.group(1)}/{self.token('id', target.group(2), where)}"
        kind = MASKED_PATHS.get(where)
        if kind is not None:
            return self.token(kind, value, where)
        return value


def masked_leaves(
    resource: Mapping[str, Any],
) -> tuple[bytes | None, list[tuple[str, str, str]]]:
    """The resource's skeleton (JSON; None when an instant is not one the builders write)
    and the (kind, value, path) of each masked leaf."""
    masker = _Masker()
    resource_type = str(resource.get("resourceType"))
    text = orjson.dumps(masker.node(resource, resource_type, root=True))
    instants = masker.instants()
    if instants is None:
        return None, masker.leaves
    for raw, numbered in instants.items():
        # Whole JSON strings: a masked instant is never part of a longer string.
        text = text.replace(orjson.dumps(raw), orjson.dumps(numbered))
    return text, masker.leaves


# Digests of skeletons `validate_emitted` accepted. Bounded: kept leaves that vary (an
# SDS id, a practitioner's own id) make new skeletons, and each costs one full check.
_PROVEN: set[bytes] = set()
_PROVEN_LIMIT: Final = 4096
_LOCK: Final = threading.Lock()


def _plain_ok(leaves: Iterable[tuple[str, str, str]]) -> bool:
    return all(_CHECKS[kind](value) for kind, value, _ in leaves)


def check_emitted(resources: Iterable[Mapping[str, Any]]) -> None:
    """What `validate_emitted` decides, in full once per skeleton and by plain checks of
    the masked leaves after that. Raises InvalidResource with every issue found."""
    unproven: list[tuple[Mapping[str, Any], bytes | None]] = []
    for resource in resources:
        skeleton, leaves = masked_leaves(resource)
        digest = None
        if skeleton is not None and _plain_ok(leaves):
            digest = hashlib.blake2b(skeleton, digest_size=16).digest()
        if digest is not None and digest in _PROVEN:
            continue
        unproven.append((resource, digest))
    if not unproven:
        return
    validate_emitted(resource for resource, _ in unproven)  # raises on any issue
    with _LOCK:
        if len(_PROVEN) >= _PROVEN_LIMIT:
            _PROVEN.clear()
        _PROVEN.update(digest for _, digest in unproven if digest is not None)
