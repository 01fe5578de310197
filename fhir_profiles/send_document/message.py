"""The GP Connect Send Document message: an ITK3 FHIR STU3 message carrying the letter.

Shape (GP Connect Send Document v2.x payload structure; ITK3 Message Distribution v2.9.0):

    Bundle (ITK-Message-Bundle-1, type message)
      MessageHeader (ITK-MessageHeader-2): event ITK007C, the handling extension, sender,
                    source = Liaison's MESH mailbox, focus -> the document Bundle
      Organization (CareConnect-ITK-Header-Organization-1): the sender's ODS code
      Bundle (ITK-Document-Bundle-1, type document)
        Composition (CareConnect-Composition-1): subject, author, custodian, one section
                    whose entry is the letter; a later version "replaces" the one before
        Binary (ITK-Attachment-Binary-1): the letter, application/pdf, base64
        Practitioner (CareConnect-Practitioner-1): who recommends
        Organization (CareConnect-Organization-1): the trust: ODS code, name, telephone
        Patient (CareConnect-Patient-1): NHS number, official name, birth date

`stu3_documents` builds the resources, every one passed through its fhir.resources STU3
model; this module puts the message together. Same bundle and envelope, same bytes: every id
is derived from the envelope's message and document ids.
"""

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from fhir.resources.STU3.bundle import Bundle

from fhir_profiles.send_document import itk
from fhir_profiles.send_document.contract import DocumentEnvelope, DocumentKind
from fhir_profiles.send_document.letter import render_letter
from fhir_profiles.send_document.request_facts import RequestFacts, read_request
from fhir_profiles.send_document.stu3_documents import (
    DocumentIds,
    document_bundle,
    serialise,
)

# ODS organisation codes: letters and digits (NHS England ODS code formats), 3 to 10 long.
_ODS: Final = re.compile(r"[A-Z0-9]{3,10}")
# A MESH mailbox id: letters and digits (e.g. X26ABC1 in mesh-sandbox, ODS-code based live).
_MAILBOX: Final = re.compile(r"[A-Za-z0-9]{1,20}")
_SUBJECT_KINDS: Final = {
    DocumentKind.REQUEST: "request for action",
    DocumentKind.CHASE_UP: "reminder of an earlier request",
    DocumentKind.WITHDRAWAL: "withdrawal of an earlier request",
}


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"envelope.{what} must be a UUID") from error


def _check(envelope: DocumentEnvelope, facts: RequestFacts) -> None:
    if envelope.sent_at.utcoffset() is None:
        raise ValueError("envelope.sent_at must be timezone-aware")
    if envelope.version < 1:
        raise ValueError("envelope.version starts at 1 (GPCM-SD-098)")
    if envelope.kind is not DocumentKind.REQUEST and (
        envelope.version < 2 or envelope.original_sent_at is None
    ):
        raise ValueError(
            "a chase-up or withdrawal is a later version (2 or more) of the request's "
            "document and needs original_sent_at"
        )
    if envelope.kind is DocumentKind.WITHDRAWAL and not envelope.withdrawal_reason:
        raise ValueError("a withdrawal needs withdrawal_reason, in words fit for the practice")
    if not _ODS.fullmatch(envelope.sender.ods_code) or not _ODS.fullmatch(envelope.recipient_ods):
        raise ValueError("sender and recipient ODS codes must be 3-10 capital letters or digits")
    if not envelope.sender.name.strip() or not envelope.sender.telephone.strip():
        raise ValueError("the sending organisation needs a name and a telephone (GPCM-SD-030/031)")
    if not 0 < len(envelope.sender_reference) <= itk.SENDER_REFERENCE_MAX:
        raise ValueError("envelope.sender_reference must be 1-255 characters")
    if envelope.sender_mailbox is None or not _MAILBOX.fullmatch(envelope.sender_mailbox):
        raise ValueError(
            "envelope.sender_mailbox (Liaison's MESH mailbox id) is required: it is "
            "MessageHeader.source.endpoint (GPCM-SD-046)"
        )
    if envelope.inbox_url is not None and not envelope.inbox_url.startswith(
        ("https://", "http://")
    ):
        raise ValueError("envelope.inbox_url must be an http(s) URL")
    if facts.birth_date is None:
        raise ValueError("the Patient needs a birth date (GPCM-SD-037, MESH routing)")


def _handling(envelope: DocumentEnvelope) -> dict[str, Any]:
    # Send Document fixes every key: both acknowledgements (GPCM-SD-040/041), For Action
    # (GPCM-SD-039), its MessageDefinition (GPCM-SD-043), the sender's reference for the
    # activity, echoed in every response (GPCM-SD-042/052), LocalExtension NONE (GPCM-SD-044).
    code, display = itk.FOR_ACTION
    return {
        "url": itk.EXT_MESSAGE_HANDLING,
        "extension": [
            {"url": itk.KEY_BUS_ACK, "valueBoolean": True},
            {"url": itk.KEY_INF_ACK, "valueBoolean": True},
            {
                "url": itk.KEY_RECIPIENT_TYPE,
                "valueCoding": {
                    "system": itk.RECIPIENT_TYPE_SYSTEM,
                    "code": code,
                    "display": display,
                },
            },
            {
                "url": itk.KEY_MESSAGE_DEFINITION,
                "valueReference": {"reference": itk.MESSAGE_DEFINITION_SEND_DOCUMENT},
            },
            {"url": itk.KEY_SENDER_REFERENCE, "valueString": envelope.sender_reference},
            {"url": itk.KEY_LOCAL_EXTENSION, "valueString": itk.LOCAL_EXTENSION},
        ],
    }


def _header(envelope: DocumentEnvelope, sender_url: str, focus_url: str) -> dict[str, Any]:
    code, display = itk.EVENT_SEND_DOCUMENT
    # No receiver or destination: MESH routes to the registered practice (GPCM-SD-049).
    return {
        "resourceType": "MessageHeader",
        "id": envelope.message_id,
        "meta": {"profile": [itk.ITK_MESSAGE_HEADER]},
        "extension": [_handling(envelope)],
        "event": {"system": itk.EVENT_SYSTEM, "code": code, "display": display},
        "sender": {"reference": sender_url},
        "timestamp": envelope.sent_at.isoformat(),
        "source": {"endpoint": envelope.sender_mailbox},
        "focus": [{"reference": focus_url}],
    }


def _message(facts: RequestFacts, envelope: DocumentEnvelope, pdf: bytes) -> dict[str, Any]:
    message_id = _uuid(envelope.message_id, "message_id")
    ids = DocumentIds(_uuid(envelope.document_id, "document_id"), envelope.version)
    bundle_id = str(uuid.uuid5(message_id, "message-bundle"))
    sender_id = str(uuid.uuid5(message_id, "header-organization"))
    document = document_bundle(facts, envelope, ids, pdf)
    header_org = {
        "resourceType": "Organization",
        "id": sender_id,
        "meta": {"profile": [itk.ITK_HEADER_ORGANIZATION]},
        "identifier": [{"system": itk.ODS_CODE, "value": envelope.sender.ods_code}],
    }
    entries = [
        _header(envelope, f"urn:uuid:{sender_id}", f"urn:uuid:{document['id']}"),
        header_org,
        document,
    ]
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [itk.ITK_MESSAGE_BUNDLE]},
        "identifier": {"system": itk.RFC4122, "value": bundle_id},
        "type": "message",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries],
    }


def build_send_document(bundle: Mapping[str, Any], envelope: DocumentEnvelope) -> bytes:
    """The ITK3 Send Document message (FHIR STU3 JSON, UTF-8) for one of Liaison's R4
    delivery Bundles. For a chase-up or a withdrawal pass the request's own delivery Bundle
    and an envelope of that kind (a later version of the same document).

    Raises ValueError when the Bundle is not a delivery Bundle or the envelope breaks a
    Send Document rule; the message names which.
    """
    facts = read_request(bundle)
    _check(envelope, facts)
    message = _message(facts, envelope, render_letter(bundle, envelope))
    checked = serialise(Bundle, message)
    return json.dumps(checked, ensure_ascii=False, separators=(",", ":")).encode()


def mesh_address(bundle: Mapping[str, Any]) -> str:
    """The MESH `Mex-To` that routes to the patient's registered practice: MESH automated
    routing, `GPPROVIDER_<NHS number>_<birth date YYYYMMDD>_<surname>` (Send Document v2
    "Using MESH"; GPCM-SD-056, GPCM-SD-063), with the values the Patient resource holds
    (GPCM-SD-038). The v1 guide's MESH client example wrote the date DDMMYYYY; v2 says
    YYYYMMDD, which this follows. Raises ValueError when a value is missing or would break
    the underscore delimiting."""
    facts = read_request(bundle)
    if facts.birth_date is None:
        raise ValueError("MESH routing to the registered practice needs the birth date")
    if "_" in facts.family or not facts.family.isprintable():
        raise ValueError("the surname cannot be used in a MESH address")
    return f"GPPROVIDER_{facts.nhs_number}_{facts.birth_date:%Y%m%d}_{facts.family}"


def mesh_subject(envelope: DocumentEnvelope) -> str:
    """The MESH `Mex-Subject`, without the patient's name or NHS number.

    Send Document asks for `[document-title] for [patient-name], NHS Number: [nhs-number],
    seen at [location-name], [ods-code], Version: [version-number]` (GPCM-SD-064). MESH
    metadata travels and is logged outside the encrypted body, so Liaison keeps the title,
    the sender, its ODS code and the version (GPCM-SD-091) and leaves the patient to the
    document itself, where the practice's workflow reads them. Nor does it say what the
    letter is about: `Mex-To` already names the patient (automated routing), so the subject
    says only what kind of letter it is."""
    return (
        f"Letter from {envelope.sender.name}, {envelope.sender.ods_code}: "
        f"{_SUBJECT_KINDS[envelope.kind]}, Version: {envelope.version}"
    )
