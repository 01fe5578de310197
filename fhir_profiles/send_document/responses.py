"""ITK3 responses to a Send Document message: read what a practice system sends back, and
write one (for the simulated practice and for tests).

An ITK3 response (ITK3 Message Distribution v2.9.0, "ITK3 Response" bundle and "Response
structure") is an ITK-Message-Bundle-1 whose ITK-MessageHeader-2 has event ITK008M, a
`response` naming the MessageHeader id it answers with the FHIR ResponseType code (ok or
fatal-error), and whose focus is an ITK-Response-OperationOutcome-1 carrying one ITK3
response code in issue.details. Codes with prefix 1 or 2 are infrastructure responses,
prefix 3 business responses (`response_codes`).

Whatever arrives in the inbox is untrusted: `read_itk_response` raises ValueError with a
plain reason for anything that is not such a response, never another exception.
"""

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from fhir.resources.STU3.bundle import Bundle

from fhir_profiles.send_document import itk
from fhir_profiles.send_document.contract import ItkResponse, ResponseKind
from fhir_profiles.send_document.response_codes import ResponseCode, lookup
from fhir_profiles.send_document.stu3_documents import serialise

# A response is a few kilobytes; anything far larger is not one (and is not parsed).
MAX_RESPONSE_BYTES: Final = 256 * 1024
# The original message is parsed to answer it: a Send Document message carries a PDF.
MAX_MESSAGE_BYTES: Final = 20 * 1024 * 1024
_RESPONSE_TYPE: Final = {True: "ok", False: "fatal-error"}
UNREADABLE: Final = "10009"


def _json(body: bytes, limit: int, what: str) -> dict[str, Any]:
    if not isinstance(body, bytes | bytearray):
        raise ValueError(f"{what} must be bytes")
    if len(body) > limit:
        raise ValueError(f"{what} is larger than {limit} bytes")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a FHIR resource")
    return value


def _message_parts(value: Mapping[str, Any], what: str) -> tuple[dict[str, Any], list[Any]]:
    """The MessageHeader (first entry, ITK3 "Bundle Structures") and every entry."""
    if value.get("resourceType") != "Bundle" or value.get("type") != "message":
        raise ValueError(f"{what} is not a FHIR message Bundle")
    entries = value.get("entry")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{what} has no entries")
    first = entries[0]
    header = first.get("resource") if isinstance(first, Mapping) else None
    if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader":
        raise ValueError(f"{what} does not start with a MessageHeader")
    return header, entries


def _validated(value: dict[str, Any], what: str) -> dict[str, Any]:
    """`value` as the STU3 model reads it (nulls and empty elements dropped)."""
    try:
        return serialise(Bundle, value)
    except Exception:
        # Usually pydantic's ValidationError (a ValueError), but fhir_core raises KeyError
        # on an unknown nested resourceType, and hostile input may find other paths: every
        # failure of the validator is "not valid". Its text (and so its traceback, were it
        # chained) can quote the input, so it is dropped.
        raise ValueError(f"{what} is not a valid FHIR STU3 Bundle") from None


def _event(header: Mapping[str, Any]) -> str | None:
    event = header.get("event")
    if isinstance(event, Mapping) and event.get("system") == itk.EVENT_SYSTEM:
        code = event.get("code")
        return code if isinstance(code, str) else None
    return None


def _resource_at(entries: list[Any], reference: Any) -> dict[str, Any] | None:
    if not isinstance(reference, Mapping) or not isinstance(reference.get("reference"), str):
        return None
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("fullUrl") == reference["reference"]:
            resource = entry.get("resource")
            return resource if isinstance(resource, dict) else None
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _response_code(outcome: Mapping[str, Any]) -> ResponseCode:
    for issue in _list(outcome.get("issue")):
        details = issue.get("details") if isinstance(issue, Mapping) else None
        codings = details.get("coding") if isinstance(details, Mapping) else None
        for coding in _list(codings):
            if isinstance(coding, Mapping) and coding.get("system") == itk.RESPONSE_CODE_SYSTEM:
                code = coding.get("code")
                if isinstance(code, str):
                    return lookup(code)
    raise ValueError("the response's OperationOutcome has no ITK3 response code")


def read_itk_response(body: bytes) -> ItkResponse:
    """The ITK3 response in `body` (a MESH message of the acknowledgement workflow).
    Raises ValueError, saying why, when it is not one."""
    what = "the response"
    value = _json(body, MAX_RESPONSE_BYTES, what)
    _message_parts(value, what)  # the plain reasons first, then the full STU3 check
    header, entries = _message_parts(_validated(value, what), what)
    if _event(header) != itk.EVENT_RESPONSE[0]:
        raise ValueError("the message is not an ITK3 response (event ITK008M)")
    response = header.get("response")
    if not isinstance(response, Mapping) or not isinstance(response.get("identifier"), str):
        raise ValueError("the ITK3 response does not say which message it answers")
    focus = _list(header.get("focus"))
    outcome = _resource_at(entries, response.get("details")) or _resource_at(
        entries, focus[0] if focus else None
    )
    if outcome is None or outcome.get("resourceType") != "OperationOutcome":
        raise ValueError("the ITK3 response carries no OperationOutcome")
    code = _response_code(outcome)
    if response.get("code") != _RESPONSE_TYPE[code.positive]:
        raise ValueError("the response's ResponseType disagrees with its ITK3 code")
    if not isinstance(header.get("id"), str):
        raise ValueError("the ITK3 response's MessageHeader has no id")
    echoed = _handling_value(header, itk.KEY_SENDER_REFERENCE)
    return ItkResponse(
        kind=code.kind,
        positive=code.positive,
        code=code.code,
        display=code.display,
        answers_message_id=str(response["identifier"]),
        response_id=str(header["id"]),
        sender_reference=echoed if isinstance(echoed, str) and echoed != "None" else None,
    )


def _handling_value(header: Mapping[str, Any], key: str) -> Any:
    for extension in header.get("extension", []):
        if isinstance(extension, Mapping) and extension.get("url") == itk.EXT_MESSAGE_HANDLING:
            for item in extension.get("extension", []):
                if isinstance(item, Mapping) and item.get("url") == key:
                    return next((v for k, v in item.items() if k.startswith("value")), None)
    return None


def _registered_practice(entries: list[Any]) -> str | None:
    """The registered practice's ODS code, from the document's Patient."""
    for entry in entries:
        document = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(document, Mapping) or document.get("resourceType") != "Bundle":
            continue
        for inner in document.get("entry", []):
            patient = inner.get("resource", {}) if isinstance(inner, Mapping) else {}
            if patient.get("resourceType") != "Patient":
                continue
            for gp in patient.get("generalPractitioner", []):
                identifier = gp.get("identifier", {}) if isinstance(gp, Mapping) else {}
                if identifier.get("system") == itk.ODS_CODE:
                    return str(identifier.get("value"))
    return None


def _original(message: bytes, code: str) -> tuple[dict[str, Any], list[Any]]:
    if code == UNREADABLE:
        # ITK3 "Response examples", 10009: what cannot be read is answered anyway, with the
        # fixed id in place of the message's own and whatever else can still be read.
        try:
            return _original(message, "")
        except ValueError:
            return {"id": itk.UNREADABLE_ID}, []
    value = _json(message, MAX_MESSAGE_BYTES, "the message")
    header, entries = _message_parts(value, "the message")
    if _event(header) != itk.EVENT_SEND_DOCUMENT[0] or not isinstance(header.get("id"), str):
        raise ValueError("the message is not a GP Connect Send Document message (ITK007C)")
    return header, entries


def _response_header(
    original: Mapping[str, Any], code: ResponseCode, ids: Mapping[str, str], endpoint: str
) -> dict[str, Any]:
    event, event_display = itk.EVENT_RESPONSE
    recipient, recipient_display = itk.FOR_INFORMATION
    sender_reference = _handling_value(original, itk.KEY_SENDER_REFERENCE)
    # A response asks for no responses (GPCM-SD-050/051) and echoes the sender's
    # reference (GPCM-SD-052); its event is ITK008M (GPCM-SD-054).
    keys: list[dict[str, Any]] = [
        {"url": itk.KEY_BUS_ACK, "valueBoolean": False},
        {"url": itk.KEY_INF_ACK, "valueBoolean": False},
        {
            "url": itk.KEY_RECIPIENT_TYPE,
            "valueCoding": {
                "system": itk.RECIPIENT_TYPE_SYSTEM,
                "code": recipient,
                "display": recipient_display,
            },
        },
        {
            "url": itk.KEY_MESSAGE_DEFINITION,
            "valueReference": {"reference": itk.MESSAGE_DEFINITION_RESPONSE},
        },
        {"url": itk.KEY_SENDER_REFERENCE, "valueString": str(sender_reference or "None")},
        {"url": itk.KEY_LOCAL_EXTENSION, "valueString": itk.LOCAL_EXTENSION},
    ]
    return {
        "resourceType": "MessageHeader",
        "id": ids["header"],
        "meta": {"profile": [itk.ITK_MESSAGE_HEADER]},
        "extension": [{"url": itk.EXT_MESSAGE_HANDLING, "extension": keys}],
        "event": {"system": itk.EVENT_SYSTEM, "code": event, "display": event_display},
        "sender": {"reference": f"urn:uuid:{ids['organization']}"},
        "timestamp": ids["timestamp"],
        "source": {"endpoint": endpoint},
        "response": {
            "identifier": str(original["id"]),
            "code": _RESPONSE_TYPE[code.positive],
            "details": {"reference": f"urn:uuid:{ids['outcome']}"},
        },
        "focus": [{"reference": f"urn:uuid:{ids['outcome']}"}],
    }


def _outcome(code: ResponseCode, outcome_id: str, diagnostics: str | None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "information" if code.positive else "fatal",
        "code": code.issue_code,
        "details": {
            "coding": [
                {"system": itk.RESPONSE_CODE_SYSTEM, "code": code.code, "display": code.display}
            ]
        },
    }
    if not code.positive:
        # GPCM-SD-074: the error's context, so the sender can find it (never patient data:
        # ITK3 FHIR-BA-02).
        issue["diagnostics"] = diagnostics or code.display
    return {
        "resourceType": "OperationOutcome",
        "id": outcome_id,
        "meta": {"profile": [itk.ITK_RESPONSE_OPERATION_OUTCOME]},
        "issue": [issue],
    }


def build_itk_response(
    message: bytes,
    *,
    kind: ResponseKind,
    code: str,
    practice_ods: str | None = None,
    practice_mailbox: str | None = None,
    sent_at: datetime | None = None,
    diagnostics: str | None = None,
) -> bytes:
    """The ITK3 response of `kind` with ITK3 `code` that a practice system would send for
    the Send Document `message`. The practice defaults to the one the document's Patient is
    registered with, its mailbox to its ODS code, the time to the message's own timestamp
    (so the same call gives the same bytes). Raises ValueError when the code is not an ITK3
    response code of that kind or the message is not a Send Document message."""
    entry = lookup(code)
    if entry.kind is not kind:
        raise ValueError(f"ITK3 code {code} is a {entry.kind.value} response, not {kind.value}")
    if sent_at is not None and sent_at.utcoffset() is None:
        raise ValueError("sent_at must be timezone-aware")
    original, entries = _original(message, code)
    ods = practice_ods or _registered_practice(entries)
    if not ods:
        raise ValueError("the message does not name the registered practice: pass practice_ods")
    if sent_at is None and not isinstance(original.get("timestamp"), str):
        raise ValueError("the message has no timestamp to default to: pass sent_at")
    answered = uuid.UUID(str(original["id"])) if _is_uuid(original["id"]) else uuid.NAMESPACE_URL
    # The bytes answered are part of the seed: two unreadable messages get two responses.
    seed = f"{original['id']}/{kind.value}/{code}/{hashlib.sha256(message).hexdigest()}"
    ids = {
        "bundle": str(uuid.uuid5(answered, f"{seed}/bundle")),
        "header": str(uuid.uuid5(answered, f"{seed}/header")),
        "organization": str(uuid.uuid5(answered, f"{seed}/organization")),
        "outcome": str(uuid.uuid5(answered, f"{seed}/outcome")),
        "timestamp": sent_at.isoformat() if sent_at else str(original["timestamp"]),
    }
    header = _response_header(original, entry, ids, practice_mailbox or ods)
    organisation = {
        "resourceType": "Organization",
        "id": ids["organization"],
        "meta": {"profile": [itk.ITK_HEADER_ORGANIZATION]},
        "identifier": [{"system": itk.ODS_CODE, "value": ods}],
    }
    resources = [header, organisation, _outcome(entry, ids["outcome"], diagnostics)]
    bundle = {
        "resourceType": "Bundle",
        "id": ids["bundle"],
        "meta": {"profile": [itk.ITK_MESSAGE_BUNDLE]},
        "identifier": {"system": itk.RFC4122, "value": ids["bundle"]},
        "type": "message",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
    checked = serialise(Bundle, bundle)
    return json.dumps(checked, ensure_ascii=False, separators=(",", ":")).encode()


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
