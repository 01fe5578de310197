"""The envelope of each GP Connect Send Document message, made by the worker at delivery time
(never in the intake request): which message it is, which version of which document, who
sends it and where the practice answers.

One recommendation has one document at its practice: the request is version 1, each
chase-up and the withdrawal a later version of the same document ("a replacement is a new
version of the same document", GP Connect Send Document v2.0.1, payload structure). Each
delivery is one ITK message: its retries reuse the message id (the practice discards a
duplicate), a replay is a new message carrying the same document and version.
"""

import uuid
from datetime import UTC, datetime
from typing import Final

from adapters.mesh_gp import itk_message_id
from fhir_profiles.send_document.contract import (
    DocumentEnvelope,
    DocumentKind,
    LetterFonts,
    SendingOrganisation,
)
from gateway.services import withdrawals
from gateway.settings import Settings
from gateway.store.models import ChaseUp, Delivery
from gateway.store.unit_of_work import UnitOfWork

DOCUMENT_NAMESPACE: Final = uuid.UUID("3f0c2a64-1d7e-4b8a-9a55-6b2f3d4e5c01")


def document_id(recommendation_id: str) -> str:
    """The document's id, the same for every version of one recommendation's letter."""
    return str(uuid.uuid5(DOCUMENT_NAMESPACE, recommendation_id))


def sender(settings: Settings) -> SendingOrganisation:
    return SendingOrganisation(
        ods_code=settings.letter.sender_ods_code,
        name=settings.letter.sender_name,
        telephone=settings.letter.sender_telephone,
    )


def letter_fonts(settings: Settings) -> LetterFonts | None:
    """The letter's embedded fonts, or None when the deployment has not installed them."""
    fonts = LetterFonts(
        regular=settings.letter.font_dir / "DejaVuSans.ttf",
        bold=settings.letter.font_dir / "DejaVuSans-Bold.ttf",
    )
    return fonts if fonts.regular.is_file() and fonts.bold.is_file() else None


def inbox_url(settings: Settings, recommendation_id: str) -> str:
    """The practice inbox page of the request (gateway.api.web.inbox): accept, decline, ask to
    see the service user, prescription issued."""
    return f"{settings.api.public_base_url.rstrip('/')}/inbox/requests/{recommendation_id}"


def _first_sent(uow: UnitOfWork, recommendation_id: str) -> datetime | None:
    sent = uow.recommendations.last_event_at(recommendation_id, "delivered")
    if sent is None:
        deliveries = uow.deliveries.for_recommendation(recommendation_id)
        times = [d.delivered_at for d in deliveries if d.purpose == withdrawals.REQUEST]
        sent = min((t for t in times if t is not None), default=None)
    if sent is not None and sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return sent


def for_delivery(
    uow: UnitOfWork, settings: Settings, delivery: Delivery, *, now: datetime
) -> DocumentEnvelope:
    """The envelope of a request or withdrawal delivery (its row, as claimed)."""
    assert delivery.practice_ods is not None
    withdrawal = delivery.purpose == withdrawals.WITHDRAWAL
    version = 1
    if withdrawal:
        # After the request and every chase-up the practice was sent.
        sent = [c for c in uow.follow_ups.chase_ups_for(delivery.recommendation_id) if c.sent_at]
        version = 2 + len(sent)
    return DocumentEnvelope(
        message_id=itk_message_id(delivery.id),
        document_id=document_id(delivery.recommendation_id),
        version=version,
        kind=DocumentKind.WITHDRAWAL if withdrawal else DocumentKind.REQUEST,
        recipient_ods=delivery.practice_ods,
        sender=sender(settings),
        sent_at=now,
        sender_reference=delivery.id,
        sender_mailbox=settings.mesh.mailbox,
        fonts=letter_fonts(settings),
        inbox_url=inbox_url(settings, delivery.recommendation_id),
        withdrawal_reason=(
            delivery.withdrawal_reason or withdrawals.CANCELLED_REASON if withdrawal else None
        ),
        original_sent_at=_first_sent(uow, delivery.recommendation_id) if withdrawal else None,
    )


def for_chase_up(
    uow: UnitOfWork, settings: Settings, chase_up: ChaseUp, *, now: datetime
) -> DocumentEnvelope:
    """A chase-up is the next version of the request's letter, referencing the original."""
    return DocumentEnvelope(
        message_id=itk_message_id(chase_up.id),
        document_id=document_id(chase_up.recommendation_id),
        version=1 + chase_up.number,
        kind=DocumentKind.CHASE_UP,
        recipient_ods=chase_up.practice_ods,
        sender=sender(settings),
        sent_at=now,
        sender_reference=chase_up.id,
        sender_mailbox=settings.mesh.mailbox,
        fonts=letter_fonts(settings),
        inbox_url=inbox_url(settings, chase_up.recommendation_id),
        original_sent_at=_first_sent(uow, chase_up.recommendation_id),
    )
