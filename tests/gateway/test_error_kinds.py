"""Every refusal is a LiaisonError with a kind, and its HTTP answer comes from one table
(gateway.api.error_kinds): no route picks a status for a refusal by hand."""

import ast
import importlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhir_profiles.issues import Issue
from gateway.api.auth import Forbidden
from gateway.api.error_kinds import HTTP_FOR_KIND, status_for
from gateway.api.problems import refusal_outcome, refusal_problem
from gateway.domain.errors import ErrorKind, LiaisonError, NotFound
from gateway.practice_directory import PracticeEntryRefused
from gateway.security.clients import ClientRegistryError
from gateway.security.tokens import Unauthorized
from gateway.services.booking import BookingRefused
from gateway.services.fhir_intake import FhirIntakeError
from gateway.services.intake import IdempotencyConflict, IntakeError
from gateway.services.practice_inbox import InboxRefusal
from gateway.services.reengagement import ReopenRefused
from gateway.services.replay import NotReplayable

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "gateway"


def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def _sources(under: Path) -> Iterator[Path]:
    for path in sorted(under.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def refusal_class_names() -> dict[str, str]:
    """Every class in gateway/ that derives, directly or not, from LiaisonError, by name,
    with the module defining it (read from the source, so none is missed for not being
    imported)."""
    classes = [
        (node, ".".join(path.relative_to(ROOT).with_suffix("").parts))
        for path in _sources(GATEWAY)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    ]
    found = {"LiaisonError": "gateway.domain.errors"}
    grew = True
    while grew:
        grew = False
        for node, module in classes:
            if node.name not in found and _base_names(node) & set(found):
                found[node.name] = module
                grew = True
    return found


def _all_subclasses(cls: type[LiaisonError]) -> set[type[LiaisonError]]:
    below = set(cls.__subclasses__())
    return below.union(*(_all_subclasses(c) for c in below))


def test_every_kind_has_a_status_and_a_title() -> None:
    assert set(HTTP_FOR_KIND) == set(ErrorKind)
    statuses = [status for status, _ in HTTP_FOR_KIND.values()]
    assert len(set(statuses)) == len(statuses)
    assert all(400 <= status < 600 for status in statuses)


def test_every_refusal_class_has_a_kind_the_table_maps() -> None:
    names = refusal_class_names()
    for module in set(names.values()):
        importlib.import_module(module)
    classes = _all_subclasses(LiaisonError)
    assert {c.__name__ for c in classes} >= set(names) - {"LiaisonError"}
    for cls in classes:
        assert cls.kind in HTTP_FOR_KIND, cls


def test_the_use_cases_refusals_derive_from_the_one_base() -> None:
    for refusal in (
        BookingRefused,
        IntakeError,
        FhirIntakeError,
        ReopenRefused,
        PracticeEntryRefused,
        ClientRegistryError,
        InboxRefusal,
        NotReplayable,
        Unauthorized,
        Forbidden,
    ):
        assert issubclass(refusal, LiaisonError), refusal


ANSWERS = [
    # (refusal, status, title, field errors, headers the answer must carry)
    (NotFound("no delivery d-1"), 404, "Not found", None, {}),
    (NotReplayable("delivery d-1 is sent; only dead ones"), 409, "Conflict", None, {}),
    (
        IntakeError("no GP practice X1", field="gp_practice.ods_code"),
        422,
        "Request refused",
        [{"field": "gp_practice.ods_code", "detail": "gp_practice.ods_code: no GP practice X1"}],
        {},
    ),
    (
        IdempotencyConflict("used with another body", field="Idempotency-Key"),
        422,
        "Request refused",
        [{"field": "Idempotency-Key", "detail": "Idempotency-Key: used with another body"}],
        {},
    ),
    (
        BookingRefused(
            ErrorKind.UNAVAILABLE, "practice unavailable", "did not answer", retry_after=12.7
        ),
        503,
        "practice unavailable",
        None,
        {"retry-after": "12"},
    ),
    (
        BookingRefused(ErrorKind.INVALID, "patient not found", "no patient", field="nhs"),
        422,
        "patient not found",
        [{"field": "nhs", "detail": "no patient"}],
        {},
    ),
    (BookingRefused(ErrorKind.NOT_FOUND, "not found", "no r-1"), 404, "not found", None, {}),
    (ReopenRefused("already re-opened"), 409, "already re-opened", None, {}),
    (
        Unauthorized("a bearer token is required"),
        401,
        "Unauthorized",
        None,
        {"www-authenticate": "Bearer"},
    ),
    (Forbidden("this token lacks the 'ops' scope"), 403, "Forbidden", None, {}),
    (
        PracticeEntryRefused("A1", [("base_url", "must be https")]),
        422,
        "Invalid request",
        [{"field": "base_url", "detail": "base_url: must be https"}],
        {},
    ),
]


@pytest.mark.parametrize(("refusal", "status", "title", "errors", "headers"), ANSWERS)
def test_a_refusal_is_answered_by_its_kind(
    refusal: LiaisonError,
    status: int,
    title: str,
    errors: list[dict[str, str]] | None,
    headers: dict[str, str],
) -> None:
    response = refusal_problem(refusal)
    body = json.loads(response.body)
    assert response.status_code == status == status_for(refusal)
    assert response.media_type == "application/problem+json"
    assert body["title"] == title
    assert body["detail"] == refusal.detail
    assert body.get("errors") == errors
    for name, value in headers.items():
        assert response.headers[name] == value
    assert ("retry-after" in response.headers) == ("retry-after" in headers)


def test_a_401_challenges_for_a_bearer_token() -> None:
    response = refusal_problem(Unauthorized("a bearer token is required"))
    assert response.headers["www-authenticate"] == "Bearer"
    assert "www-authenticate" not in refusal_problem(Forbidden("no")).headers


def test_the_inbox_answers_a_withdrawn_request_as_a_conflict_and_a_bad_form_as_invalid() -> None:
    withdrawn = InboxRefusal("withdrawn", field="recommendation", kind=ErrorKind.CONFLICT)
    assert status_for(withdrawn) == 409
    assert status_for(InboxRefusal("give a reason", field="reason")) == 422


def test_a_fhir_refusal_is_an_operation_outcome_naming_every_element() -> None:
    refusal = FhirIntakeError(
        [Issue("MedicationRequest.identifier", "was already used"), Issue("a.b", "is wrong")],
        kind=ErrorKind.CONFLICT,
        code="duplicate",
    )
    response = refusal_outcome(refusal)
    body = json.loads(response.body)
    assert response.status_code == 409
    assert response.media_type == "application/fhir+json"
    assert body["resourceType"] == "OperationOutcome"
    assert [(i["code"], i["diagnostics"], i["expression"]) for i in body["issue"]] == [
        (
            "duplicate",
            "MedicationRequest.identifier: was already used",
            ["MedicationRequest.identifier"],
        ),
        ("duplicate", "a.b: is wrong", ["a.b"]),
    ]
    plain = refusal_outcome(NotFound("no delivery d-1"))
    assert json.loads(plain.body)["issue"] == [
        {"severity": "error", "code": "not-found", "diagnostics": "no delivery d-1"}
    ]


def _caught_names(handler: ast.ExceptHandler) -> set[str]:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    names = set()
    for kind in kinds:
        if isinstance(kind, ast.Name):
            names.add(kind.id)
        elif isinstance(kind, ast.Attribute):
            names.add(kind.attr)
    return names


def hand_mapped_refusals(source: str, refusals: set[str]) -> list[int]:
    """Lines where an `except` of a refusal raises HTTPException, writes an HTTP error
    status itself or reads one the refusal carries, instead of asking the one table."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ExceptHandler) or not _caught_names(node) & refusals:
            continue
        for inner in (n for statement in node.body for n in ast.walk(statement)):
            raises_http = (
                isinstance(inner, ast.Call)
                and getattr(inner.func, "id", getattr(inner.func, "attr", None)) == "HTTPException"
            )
            status = (
                isinstance(inner, ast.Constant)
                and type(inner.value) is int
                and 400 <= inner.value < 600
            )
            own_status = (
                isinstance(inner, ast.Attribute)
                and isinstance(inner.value, ast.Name)
                and inner.value.id == node.name
                and inner.attr in ("status", "status_code")
            )
            if raises_http or status or own_status:
                lines.append(node.lineno)
                break
    return lines


def test_the_check_finds_a_refusal_mapped_by_hand() -> None:
    refusals = {"ReopenRefused", "NotFound", "LiaisonError"}
    by_hand = """
try:
    reopen()
except ReopenRefused as exc:
    raise HTTPException(409, str(exc)) from exc
try:
    find()
except (KeyError, errors.NotFound):
    return error_page(request, engineer, 404, "There is none.")
try:
    submit()
except LiaisonError as error:
    return outcome(error.status, error.issues)
"""
    assert hand_mapped_refusals(by_hand, refusals) == [4, 8, 12]
    by_table = """
try:
    find()
except NotFound as refused:
    return error_page(request, engineer, status_for(refused), "There is none.")
except ValueError:
    raise HTTPException(400, "bad")
"""
    assert hand_mapped_refusals(by_table, refusals) == []


def test_no_route_catches_a_refusal_to_answer_it_by_hand() -> None:
    refusals = set(refusal_class_names())
    found = {
        str(path.relative_to(ROOT)): lines
        for path in _sources(GATEWAY / "api")
        if (lines := hand_mapped_refusals(path.read_text(), refusals))
    }
    assert found == {}, "let the refusal handler answer (gateway.api.error_kinds)"
