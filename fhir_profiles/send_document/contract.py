"""What the GP Connect Send Document builder, the letter and the MESH route agree on.

GP Connect Send Document (simplifier.net, "GP Connect Send Document" v2.x) is the assured
route for a document from another care setting into the registered practice's workflow: an
ITK3 FHIR STU3 message (ITK3 Message Distribution v2.9.0,
nhsconnect.github.io/ITK3-FHIR-Messaging-Distribution) over MESH, workflow
`GPCONNECT_SEND_DOCUMENT`, with its responses under `GPCONNECT_SEND_DOCUMENT_ACK`.

The builder (`fhir_profiles.send_document.message`) turns one of Liaison's R4 delivery
Bundles and an envelope into the ITK message; `fhir_profiles.send_document.responses`
reads (and, for the simulated practice, writes) ITK3 infrastructure and business responses.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

WORKFLOW_ID: Final = "GPCONNECT_SEND_DOCUMENT"
ACK_WORKFLOW_ID: Final = "GPCONNECT_SEND_DOCUMENT_ACK"


class DocumentKind(StrEnum):
    """What the letter inside the message is for."""

    REQUEST = "request"
    CHASE_UP = "chase-up"
    WITHDRAWAL = "withdrawal"


@dataclass(frozen=True)
class SendingOrganisation:
    """The mental-health trust that sends the document (CareConnect-Organization-1)."""

    ods_code: str
    name: str
    telephone: str


@dataclass(frozen=True)
class LetterFonts:
    """TrueType fonts the letter embeds so every name prints as written (the 14 standard PDF
    fonts cover Latin-1 only). Regular and bold of one family."""

    regular: Path
    bold: Path


@dataclass(frozen=True)
class DocumentEnvelope:
    """Everything about one message that is not in the delivery Bundle."""

    # ITK MessageHeader id (a UUID): one per message; retries of one delivery reuse it so the
    # practice can discard a duplicate, a replay or a new version gets a new one.
    message_id: str
    # The document's identity (UUID), the same for every version of one recommendation's
    # document: a chase-up or a withdrawal is a new version of it, as the guide describes.
    document_id: str
    version: int  # 1 for the first document; each later version adds one
    kind: DocumentKind
    recipient_ods: str  # the registered practice
    sender: SendingOrganisation
    sent_at: datetime  # timezone-aware
    # Liaison's delivery id: the ITK SenderReference, echoed back so responses can be matched.
    sender_reference: str
    # The practice inbox page of this request (accept, decline, ask to see, issued).
    inbox_url: str | None = None
    withdrawal_reason: str | None = None  # WITHDRAWAL only, in words fit for the practice
    original_sent_at: datetime | None = None  # CHASE_UP and WITHDRAWAL: when version 1 went
    # Liaison's own MESH mailbox id: ITK MessageHeader.source.endpoint (Send Document
    # GPCM-SD-046). Required by the message builder; a default only so the type stays
    # compatible with envelopes made before it existed.
    sender_mailbox: str | None = None
    # None: the standard PDF fonts, text outside Latin-1 folded (see the letter module).
    fonts: LetterFonts | None = None


class ResponseKind(StrEnum):
    INFRASTRUCTURE = "infrastructure"  # the receiving system has the message
    BUSINESS = "business"  # the practice's workflow has filed it (or refused it)


@dataclass(frozen=True)
class ItkResponse:
    """One ITK3 response, as read from Liaison's MESH inbox."""

    kind: ResponseKind
    positive: bool
    code: str  # ITK3 response code, e.g. "10001"; negative codes end the delivery
    display: str  # the code's display text from the ITK3 response-code system
    answers_message_id: str  # MessageHeader.response.identifier: our message id
    response_id: str  # the response message's own MessageHeader id
    # The SenderReference the response echoes (GPCM-SD-052): Liaison's delivery id, another
    # way to match it, e.g. when the practice could not read the message id (10009).
    sender_reference: str | None = None
