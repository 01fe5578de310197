"""`check_emitted` (validate_emitted in full once per shape, plain checks of the request's
own values after that) says what `validate_emitted` says, at every place it masks, for
values the validator accepts and values it refuses; and a change anywhere else is never
taken for a shape already proven."""

import copy
import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fhir_profiles.builders import build_resources
from fhir_profiles.emitted_shape import MASKED_PATHS, check_emitted, masked_leaves
from fhir_profiles.issues import InvalidResource
from fhir_profiles.validation import validate_emitted
from tests.fhir_profiles.factories import make_facts
from tests.fhir_profiles.test_emitted_checks import _variants

Location = tuple[str | int, ...]

# Per kind: values the validator accepts at the places of that kind, and values it refuses.
VALUES: dict[str, list[str]] = {
    "text": ["x", "Another Name", "O'Brien-Smith, née Zoë", "  padded  ", "", "   "],
    "xhtml": [
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Other words</p></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"> </div>',
        "<p>no div</p>",
        "",
    ],
    "id": [str(uuid.uuid4()), "a.b-C9", "has space", "x" * 65, ""],
    "uuid": [str(uuid.uuid4()), "not-a-uuid", "7C050FF3-B187-453E-87A8-09AA6A3BCCA3", ""],
    "nhs-number": ["9000000009", "9434765919", "9434765918", "123", "94347659190", ""],
    "ods-code": ["A81001", "RX3", "Y0000012", "y00001", "AB", "TOO-LONG-CODE", ""],
    "instant": [
        "2027-01-31T23:59:59Z",
        "2020-06-01T12:00:00.5+00:00",
        "2026-12-04T18:04:46",
        "2026-13-01T00:00:00Z",
        "yesterday",
        "",
    ],
    "date": ["1990-12-31", "2000-02-29", "1974-02-30", "1974-3-2", "tomorrow", ""],
}


def _strings(node: Any, loc: Location = ()) -> Iterator[tuple[Location, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*loc, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _strings(item, (*loc, index))
    elif isinstance(node, str):
        yield loc, node


def _dotted(resource_type: str, loc: Location) -> str:
    return ".".join([resource_type, *(str(part) for part in loc if isinstance(part, str))])


def _replaced(resource: dict[str, Any], loc: Location, value: str) -> dict[str, Any]:
    changed = copy.deepcopy(resource)
    node: Any = changed
    for part in loc[:-1]:
        node = node[part]
    node[loc[-1]] = value
    return changed


def _places() -> list[tuple[dict[str, Any], Location, str]]:
    """(resource, location, kind) for each masked place, once per resource type and path,
    across every shape the builders make."""
    seen: set[tuple[str, str]] = set()
    places = []
    for facts in _variants():
        for resource in build_resources(facts).all():
            _, leaves = masked_leaves(resource)
            kinds = {(path, value): kind for kind, value, path in leaves}
            for loc, text in _strings(resource):
                path = _dotted(resource["resourceType"], loc)
                target = text.rpartition("/")[2] if loc[-1] == "reference" else text
                kind = kinds.get((path, target))
                if kind is not None and (resource["resourceType"], path) not in seen:
                    seen.add((resource["resourceType"], path))
                    places.append((resource, loc, kind))
    return places


def _verdict(check: Any, resource: dict[str, Any]) -> bool:
    try:
        check([resource])
    except InvalidResource:
        return False
    return True


PLACES = _places()


@pytest.mark.parametrize(
    ("resource", "loc", "kind"),
    PLACES,
    ids=[_dotted(r["resourceType"], loc) for r, loc, _ in PLACES],
)
def test_at_each_masked_place_the_verdict_is_the_validators(
    resource: dict[str, Any], loc: Location, kind: str
) -> None:
    check_emitted([resource])  # this shape is now proven
    verdicts = []
    for value in VALUES[kind]:
        if loc[-1] == "reference":  # the id after the target's type is what is masked
            value = f"{str(_follow(resource, loc)).partition('/')[0]}/{value}"
        changed = _replaced(resource, loc, value)
        expected = _verdict(validate_emitted, changed)
        assert _verdict(check_emitted, changed) is expected, (kind, value)
        verdicts.append(expected)
    # Other values than the builders' own are taken: the place holds no fixed value.
    accepted = [value for value, valid in zip(VALUES[kind], verdicts, strict=True) if valid]
    assert accepted, f"no value but the builders' own is valid at {loc}"


def _follow(node: Any, loc: Location) -> Any:
    for part in loc:
        node = node[part]
    return node


def test_every_masked_place_is_one_the_builders_fill() -> None:
    found = {_dotted(r["resourceType"], loc) for r, loc, _ in PLACES}
    assert set(MASKED_PATHS) <= found


def test_every_kind_of_request_value_is_masked_somewhere() -> None:
    assert {kind for _, _, kind in PLACES} == set(VALUES)


@pytest.mark.parametrize(
    ("resource_type", "loc", "value"),
    [
        ("MedicationRequest", ("status",), "draft"),
        ("MedicationRequest", ("intent",), "order"),
        ("Task", ("meta", "profile", 0), "https://example.org/not-a-liaison-profile"),
        ("Patient", ("identifier", 0, "system"), "https://example.org/not-nhs"),
        ("CommunicationRequest", ("reasonCode", 0, "coding", 0, "code"), "not a code"),
    ],
)
def test_a_change_to_a_fixed_part_of_a_proven_shape_is_refused(
    resource_type: str, loc: Location, value: str
) -> None:
    resources = build_resources(make_facts()).all()
    check_emitted(resources)
    resource = next(r for r in resources if r["resourceType"] == resource_type)
    assert not _verdict(check_emitted, _replaced(dict(resource), loc, value))


def test_the_order_of_instants_is_part_of_the_shape() -> None:
    # A rule may compare two instants (Task inv-1: lastModified >= authoredOn): one that
    # moves past another is a new shape, checked in full.
    task = build_resources(make_facts()).task
    later = _replaced(dict(task), ("authoredOn",), "2099-01-01T00:00:00Z")
    assert masked_leaves(later)[0] != masked_leaves(task)[0]


def test_two_requests_of_one_shape_share_a_skeleton() -> None:
    first = build_resources(make_facts()).all()
    other_facts = make_facts()
    second = build_resources(
        dataclasses.replace(
            other_facts,
            recommendation_id=str(uuid.uuid4()),
            medication_request_id=str(uuid.uuid4()),
            service_user=dataclasses.replace(
                other_facts.service_user, nhs_number="9000000009", family="Another"
            ),
        )
    ).all()
    assert [masked_leaves(r)[0] for r in first] == [masked_leaves(r)[0] for r in second]
