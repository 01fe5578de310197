"""ITK3 responses: what a practice sends back is read to the code, its display and the
message it answers; anything else is refused with a ValueError and a plain reason."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.STU3.bundle import Bundle

from fhir_profiles.send_document import itk
from fhir_profiles.send_document.contract import DocumentKind, ResponseKind
from fhir_profiles.send_document.message import build_send_document
from fhir_profiles.send_document.response_codes import RESPONSE_CODES
from fhir_profiles.send_document.responses import build_itk_response, read_itk_response
from tests.fhir_profiles.send_document_data import (
    MESSAGE_ID,
    delivery_bundle,
    envelope,
    parsed,
)

MESSAGE = build_send_document(delivery_bundle("clozapine"), envelope())
INFRA = ResponseKind.INFRASTRUCTURE
BUSINESS = ResponseKind.BUSINESS


def _response(kind: ResponseKind = INFRA, code: str = "20013", **kw: Any) -> bytes:
    return build_itk_response(MESSAGE, kind=kind, code=code, **kw)


@pytest.mark.parametrize("code", sorted(RESPONSE_CODES))
def test_every_itk3_code_round_trips(code: str) -> None:
    entry = RESPONSE_CODES[code]
    body = _response(entry.kind, code)
    Bundle.model_validate(json.loads(body))
    read = read_itk_response(body)
    assert read.code == code
    assert read.kind is (BUSINESS if code.startswith("3") else INFRA)
    assert read.positive is entry.positive
    assert read.display == entry.display
    assert read.answers_message_id == MESSAGE_ID


def test_the_two_positive_acknowledgements_of_a_send_document() -> None:
    infrastructure = read_itk_response(_response(INFRA, "20013"))
    business = read_itk_response(_response(BUSINESS, "30001"))
    assert (infrastructure.kind, infrastructure.positive, infrastructure.display) == (
        INFRA,
        True,
        "Success",
    )
    assert (business.kind, business.positive) == (BUSINESS, True)
    assert infrastructure.response_id != business.response_id


def test_a_negative_business_response_says_why() -> None:
    read = read_itk_response(_response(BUSINESS, "30002"))
    assert read.positive is False
    assert read.display.startswith("Patient not known here")


def test_a_response_is_shaped_as_itk3_says() -> None:
    response = parsed(_response(BUSINESS, "30003", diagnostics="No registration found."))
    header = response["entry"][0]["resource"]
    outcome = next(
        e["resource"]
        for e in response["entry"]
        if e["resource"]["resourceType"] == "OperationOutcome"
    )
    keys = {e["url"]: e for e in header["extension"][0]["extension"]}
    # GPCM-SD-050/051/052/054 and ITK3 "Response structure".
    assert keys["BusAckRequested"]["valueBoolean"] is False
    assert keys["InfAckRequested"]["valueBoolean"] is False
    assert keys["SenderReference"]["valueString"] == "del-0001"
    assert header["event"]["code"] == "ITK008M"
    assert header["response"]["identifier"] == MESSAGE_ID
    assert header["response"]["code"] == "fatal-error"
    assert outcome["meta"]["profile"] == [itk.ITK_RESPONSE_OPERATION_OUTCOME]
    (issue,) = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("fatal", "business-rule")
    assert issue["details"]["coding"][0]["system"] == itk.RESPONSE_CODE_SYSTEM
    assert issue["diagnostics"] == "No registration found."


def test_the_response_comes_from_the_registered_practice_by_default() -> None:
    response = parsed(_response())
    organisation = response["entry"][1]["resource"]
    assert organisation["identifier"][0]["value"] == "A81001"
    assert response["entry"][0]["resource"]["source"]["endpoint"] == "A81001"
    named = parsed(_response(practice_ods="B82002", practice_mailbox="X26ABC2"))
    assert named["entry"][1]["resource"]["identifier"][0]["value"] == "B82002"
    assert named["entry"][0]["resource"]["source"]["endpoint"] == "X26ABC2"


def test_same_message_and_code_same_response_bytes() -> None:
    assert _response() == _response()
    at = datetime(2025, 1, 15, 10, 5, tzinfo=UTC)
    assert parsed(_response(sent_at=at))["entry"][0]["resource"]["timestamp"] == (
        "2025-01-15T10:05:00Z"
    )


def test_a_later_version_is_answered_as_its_own_message() -> None:
    withdrawal = build_send_document(
        delivery_bundle(), envelope(DocumentKind.WITHDRAWAL, message_id=_OTHER_ID)
    )
    read = read_itk_response(build_itk_response(withdrawal, kind=INFRA, code="20013"))
    assert read.answers_message_id == _OTHER_ID


_OTHER_ID = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"


@pytest.mark.parametrize(
    ("kind", "code", "words"),
    [
        (BUSINESS, "20013", "infrastructure response, not business"),
        (INFRA, "30001", "business response, not infrastructure"),
        (INFRA, "99999", "not an ITK3 response code"),
        (INFRA, "", "not an ITK3 response code"),
    ],
)
def test_building_with_a_wrong_code_is_refused(kind: ResponseKind, code: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        _response(kind, code)


def test_only_a_send_document_message_is_answered() -> None:
    with pytest.raises(ValueError, match="not a GP Connect Send Document message"):
        build_itk_response(_response(), kind=INFRA, code="20013")
    with pytest.raises(ValueError, match="not JSON"):
        build_itk_response(b"%PDF-1.7", kind=INFRA, code="20013")


def _edited(change: Any) -> bytes:
    response = parsed(_response(BUSINESS, "30001"))
    change(response)
    return json.dumps(response).encode()


def _drop_header(r: dict[str, Any]) -> None:
    del r["entry"][0]


def _wrong_event(r: dict[str, Any]) -> None:
    r["entry"][0]["resource"]["event"]["code"] = "ITK007C"


def _no_response(r: dict[str, Any]) -> None:
    del r["entry"][0]["resource"]["response"]


def _no_outcome(r: dict[str, Any]) -> None:
    r["entry"] = r["entry"][:2]
    del r["entry"][0]["resource"]["focus"]
    r["entry"][0]["resource"]["response"].pop("details")


def _unknown_code(r: dict[str, Any]) -> None:
    r["entry"][2]["resource"]["issue"][0]["details"]["coding"][0]["code"] = "12345"


def _other_system(r: dict[str, Any]) -> None:
    r["entry"][2]["resource"]["issue"][0]["details"]["coding"][0]["system"] = "urn:x"


def _disagreeing(r: dict[str, Any]) -> None:
    r["entry"][0]["resource"]["response"]["code"] = "fatal-error"


def _not_stu3(r: dict[str, Any]) -> None:
    r["entry"][0]["resource"]["timestamp"] = "yesterday"


HOSTILE: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"\x00\xff not json {", "not JSON"),
    "JSON but a list": (b"[1, 2, 3]", "not a FHIR resource"),
    "a string": (b'"Bundle"', "not a FHIR resource"),
    "another resource": (b'{"resourceType": "Patient"}', "not a FHIR message Bundle"),
    "a document bundle": (b'{"resourceType": "Bundle", "type": "document"}', "message Bundle"),
    "no entries": (b'{"resourceType": "Bundle", "type": "message"}', "no entries"),
    "entries not a list": (
        b'{"resourceType": "Bundle", "type": "message", "entry": {"a": 1}}',
        "no entries",
    ),
    "missing header": (_edited(_drop_header), "does not start with a MessageHeader"),
    "wrong event": (_edited(_wrong_event), "not an ITK3 response"),
    "no response element": (_edited(_no_response), "does not say which message"),
    "no outcome": (_edited(_no_outcome), "no OperationOutcome"),
    "unknown code": (_edited(_unknown_code), "not an ITK3 response code"),
    "code from another system": (_edited(_other_system), "no ITK3 response code"),
    "ok with a fatal code": (_edited(_disagreeing), "disagrees"),
    "not valid STU3": (_edited(_not_stu3), "not a valid FHIR STU3 Bundle"),
    "huge": (b'{"resourceType": "Bundle", "x": "' + b"a" * 300_000 + b'"}', "larger than"),
    "deeply nested": (b"[" * 150_000 + b"]" * 150_000, "larger than"),
    "nested within the limit": (b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}", "not JSON"),
    "empty": (b"", "not JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_what_is_not_an_itk3_response_is_a_value_error(case: str) -> None:
    body, words = HOSTILE[case]
    with pytest.raises(ValueError, match=words):
        read_itk_response(body)


def test_a_send_document_message_is_not_a_response() -> None:
    with pytest.raises(ValueError, match="not an ITK3 response"):
        read_itk_response(MESSAGE)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy


JUNK: tuple[Any, ...] = (None, [], {}, 0, -1, 1.5, True, "", "x" * 300, [None], {"a": [{}]})


def test_every_element_replaced_by_junk_is_read_or_refused_with_a_value_error() -> None:
    """Each element of a valid response, replaced by each kind of junk: the reader returns a
    response or raises ValueError, never another exception."""
    valid = parsed(_response(BUSINESS, "30001"))
    outcomes = {"read": 0, "refused": 0}
    for path in _paths(valid):
        for junk in JUNK:
            body = json.dumps(_replaced(valid, path, junk)).encode()
            try:
                read_itk_response(body)
            except ValueError:
                outcomes["refused"] += 1
            else:
                outcomes["read"] += 1
    assert outcomes["refused"] > 0
    assert outcomes["read"] > 0  # e.g. a changed display text is still the same response


def test_an_unreadable_message_is_still_answered_with_10009() -> None:
    at = datetime(2025, 1, 15, 10, 5, tzinfo=UTC)
    body = build_itk_response(
        b"\x00garbage", kind=INFRA, code="10009", practice_ods="A81001", sent_at=at
    )
    read = read_itk_response(body)
    assert (read.code, read.positive) == ("10009", False)
    assert read.answers_message_id == "UNREADABLE-IN-ORIGINAL-MESSAGE"
    assert read.sender_reference is None
    other = build_itk_response(
        b"other", kind=INFRA, code="10009", practice_ods="A81001", sent_at=at
    )
    assert read_itk_response(other).response_id != read.response_id
    with pytest.raises(ValueError, match="practice_ods"):
        build_itk_response(b"\x00garbage", kind=INFRA, code="10009", sent_at=at)


def test_a_response_echoes_the_sender_reference() -> None:
    assert read_itk_response(_response()).sender_reference == "del-0001"


def _no_patient_data(body: bytes) -> bool:
    text = body.decode()
    return not any(
        private in text
        for private in ("9434765919", "Morgan", "Alex", "1984-03-07", "19840307", "Clozapine")
    )


# ITK3 Message Distribution and Send Document requirements on responses, each checked.
RESPONSE_REQUIREMENTS: dict[str, Any] = {
    "ITK3 FHIR-BA-02 no patient identifiable information in a response": lambda: all(
        _no_patient_data(_response(e.kind, c)) for c, e in RESPONSE_CODES.items()
    ),
    "ITK3 response codes: every negative code is fatal-error / fatal": lambda: all(
        parsed(_response(e.kind, c))["entry"][0]["resource"]["response"]["code"]
        == ("ok" if e.positive else "fatal-error")
        for c, e in RESPONSE_CODES.items()
    ),
    "GPCM-SD-050/051 a response requests no acknowledgement": lambda: all(
        item["valueBoolean"] is False
        for item in parsed(_response())["entry"][0]["resource"]["extension"][0]["extension"]
        if item["url"] in ("BusAckRequested", "InfAckRequested")
    ),
    "GPCM-SD-052 SenderReference echoed": lambda: (
        read_itk_response(_response()).sender_reference == "del-0001"
    ),
    "GPCM-SD-053 sender is CareConnect-ITK-Header-Organization-1": lambda: (
        parsed(_response())["entry"][1]["resource"]["meta"]["profile"]
        == [itk.ITK_HEADER_ORGANIZATION]
    ),
    "GPCM-SD-054 event ITK008M": lambda: (
        parsed(_response())["entry"][0]["resource"]["event"]["code"] == "ITK008M"
    ),
    "GPCM-SD-074 a negative response explains itself in diagnostics": lambda: bool(
        parsed(_response(BUSINESS, "30002"))["entry"][2]["resource"]["issue"][0]["diagnostics"]
    ),
}


@pytest.mark.parametrize("requirement", sorted(RESPONSE_REQUIREMENTS))
def test_the_itk3_response_meets_each_gp_connect_send_document_requirement(
    requirement: str,
) -> None:
    assert RESPONSE_REQUIREMENTS[requirement](), requirement


def test_an_error_text_never_repeats_arbitrary_content_from_the_response() -> None:
    def planted(r: dict[str, Any]) -> None:
        coding = r["entry"][2]["resource"]["issue"][0]["details"]["coding"][0]
        coding["code"] = "Alex Morgan 9434765919"

    with pytest.raises(ValueError, match="not an ITK3 response code") as refused:
        read_itk_response(_edited(planted))
    assert "Morgan" not in str(refused.value)
    assert "9434765919" not in str(refused.value)


def test_a_refusal_carries_no_chained_error_that_could_quote_the_input() -> None:
    def planted(r: dict[str, Any]) -> None:
        r["entry"][0]["resource"]["timestamp"] = "Alex Morgan 9434765919"

    with pytest.raises(ValueError, match="not a valid FHIR STU3 Bundle") as refused:
        read_itk_response(_edited(planted))
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__ is True
