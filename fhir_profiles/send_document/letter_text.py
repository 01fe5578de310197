"""The words of the Send Document letter, block by block, in the order a GP reads them.

Order: what this letter is (and, for a withdrawal, that the request no longer stands and
why), the clinical-safety flag when one was raised, who and what (patient, medicines, dose,
plan, duration), who recommends it and how to reach them, and how to respond. The letter
goes to the patient's own GP practice, so it names the patient and the medicines; it never
goes to the service user.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from fhir_profiles.builders_common import format_date, format_nhs_number
from fhir_profiles.send_document.contract import DocumentEnvelope, DocumentKind
from fhir_profiles.send_document.request_facts import Medicine, RequestFacts, SafetyFlag

TITLES: Final = {
    DocumentKind.REQUEST: "Request to consider prescribing a stop-smoking medicine",
    DocumentKind.CHASE_UP: "Reminder: request to consider prescribing a stop-smoking medicine",
    DocumentKind.WITHDRAWAL: "Request withdrawn: please do not act on our earlier request",
}
RESPONSE_ACTIONS: Final = (
    "accept the request",
    "decline it with a reason",
    "ask to see the patient first",
    "record that a prescription was issued",
)


class Style(StrEnum):
    TITLE = "title"
    ALERT_HEADING = "alert-heading"
    ALERT = "alert"
    HEADING = "heading"
    BODY = "body"
    LINK = "link"
    SMALL = "small"


@dataclass(frozen=True)
class Block:
    style: Style
    text: str
    url: str | None = None


def _medicine_line(medicine: Medicine) -> str:
    parts = [f"{medicine.name}: {medicine.dose}"]
    if medicine.duration_days is not None:
        parts.append(f"for {medicine.duration_days} days")
    if medicine.quantity:
        parts.append(f"supply {medicine.quantity}")
    return "; ".join(parts)


def _safety_blocks(flags: tuple[SafetyFlag, ...]) -> list[Block]:
    if not flags:
        return []
    worst = flags[0].severity
    blocks = [Block(Style.ALERT_HEADING, f"CLINICAL SAFETY ({worst} priority) - please read first")]
    for flag in flags:
        names = ", ".join(flag.medicines)
        summary = f"{flag.summary}: {names}." if names else f"{flag.summary}."
        blocks.append(Block(Style.ALERT, summary))
        if flag.detail:
            blocks.append(Block(Style.ALERT, flag.detail))
        if flag.source:
            blocks.append(Block(Style.SMALL, f"Source: {flag.source}"))
    return blocks


def _opening(facts: RequestFacts, envelope: DocumentEnvelope) -> list[Block]:
    reference = f" (reference {facts.recommendation_id})" if facts.recommendation_id else ""
    original = (
        f"on {format_date(envelope.original_sent_at.date())}"
        if envelope.original_sent_at is not None
        else "earlier"
    )
    medicines = ", ".join(m.name for m in facts.medicines)
    if envelope.kind is DocumentKind.WITHDRAWAL:
        reason = envelope.withdrawal_reason or "The practitioner withdrew it."
        return [
            Block(
                Style.ALERT_HEADING,
                f"WITHDRAWN: the request we sent {original}{reference} no longer stands.",
            ),
            Block(Style.BODY, f"It asked you to consider prescribing {medicines}."),
            Block(Style.BODY, f"Why it was withdrawn: {reason}"),
            Block(
                Style.BODY,
                "Please do not issue a prescription for it. If one was issued already, please "
                "contact the practitioner named below.",
            ),
        ]
    if envelope.kind is DocumentKind.CHASE_UP:
        return [
            Block(
                Style.BODY,
                f"This is a reminder of the request we sent {original}{reference}. We have not "
                "seen a response yet. The request follows unchanged.",
            )
        ]
    return []


def _who_and_what(facts: RequestFacts) -> list[Block]:
    born = f", born {format_date(facts.birth_date)}" if facts.birth_date else ""
    blocks = [
        Block(Style.HEADING, "Patient"),
        Block(
            Style.BODY,
            f"{facts.patient_name}, NHS number {format_nhs_number(facts.nhs_number)}{born}",
        ),
        Block(
            Style.HEADING,
            "Recommended" if len(facts.medicines) == 1 else "Recommended (combination)",
        ),
        *(Block(Style.BODY, _medicine_line(m)) for m in facts.medicines),
    ]
    if facts.plan_aim:
        blocks.append(Block(Style.BODY, f"Plan: the patient has decided {facts.plan_aim}."))
    current = ", ".join(facts.current_medicines) or "none recorded by the practitioner"
    blocks.append(Block(Style.BODY, f"Current medicines: {current}"))
    if facts.note:
        blocks.append(Block(Style.BODY, f"Note from the practitioner: {facts.note}"))
    return blocks


def _contact(facts: RequestFacts, envelope: DocumentEnvelope) -> list[Block]:
    sender = envelope.sender
    email = f", {facts.practitioner_email}" if facts.practitioner_email else ""
    return [
        Block(Style.HEADING, "Recommended by"),
        Block(Style.BODY, f"{facts.practitioner_name}{email}"),
        Block(Style.BODY, f"{sender.name} ({sender.ods_code}), telephone {sender.telephone}"),
    ]


def _respond(facts: RequestFacts, envelope: DocumentEnvelope) -> list[Block]:
    if envelope.kind is DocumentKind.WITHDRAWAL:
        blocks = [Block(Style.HEADING, "What to do"), Block(Style.BODY, "Nothing more is needed.")]
        if envelope.inbox_url:
            blocks.append(
                Block(Style.BODY, "The request shows as withdrawn in the practice inbox:")
            )
            blocks.append(Block(Style.LINK, envelope.inbox_url, envelope.inbox_url))
        return blocks
    blocks = [Block(Style.HEADING, "How to respond")]
    actions = ", ".join(RESPONSE_ACTIONS[:-1]) + ", or " + RESPONSE_ACTIONS[-1]
    if envelope.inbox_url:
        blocks.append(Block(Style.BODY, f"Open this request in the practice inbox to {actions}:"))
        blocks.append(Block(Style.LINK, envelope.inbox_url, envelope.inbox_url))
    else:
        blocks.append(Block(Style.BODY, f"Telephone {envelope.sender.telephone} to {actions}."))
    if facts.respond_by is not None:
        blocks.append(
            Block(
                Style.BODY,
                f"If we have no response by {format_date(facts.respond_by.date())}, we will "
                "send a reminder.",
            )
        )
    blocks.append(
        Block(
            Style.SMALL,
            "The patient agreed to this recommendation being shared with their GP practice.",
        )
    )
    return blocks


def compose(facts: RequestFacts, envelope: DocumentEnvelope) -> tuple[Block, ...]:
    """Every block of the letter, in reading order."""
    sent = format_date(envelope.sent_at.date())
    reference = f" Reference {facts.recommendation_id}." if facts.recommendation_id else ""
    return (
        Block(Style.TITLE, TITLES[envelope.kind]),
        Block(
            Style.SMALL,
            f"From {envelope.sender.name} to GP practice {envelope.recipient_ods}, {sent}. "
            f"Document version {envelope.version}.{reference}",
        ),
        *_opening(facts, envelope),
        *_safety_blocks(facts.safety_flags),
        *_who_and_what(facts),
        *_contact(facts, envelope),
        *_respond(facts, envelope),
    )
