"""Which recommendation a pharmacy's status update is about. Pure rules.

A Task sent the way NHS England's Prescription Status Update API defines it names the
prescription (`basedOn`: the prescription order number), the patient (`for`: the NHS
number) and the pharmacy (`owner`), and no Liaison identifier; nor does it name the
medicine (the line item is an opaque `focus` id). So Liaison matches it by the NHS number,
at the practice that sent or relayed it, to a request still waiting on a prescription that
was made before the pharmacy's update, and remembers the prescription id once matched.

Wrong-patient safety comes first: when more than one request could be meant and none has
already been matched to this prescription, nothing is applied (the report is counted as
unmatched) rather than guessing.

Source: Prescription Status Update API, github.com/NHSDigital/eps-prescription-status-
update-api (specification/examples/request-ready-to-collect.json).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

# Statuses in which a request may hear from a pharmacy.
AWAITING_PRESCRIPTION: Final = (
    "queued",
    "delivered",
    "accepted",
    "appointment-needed",
    "prescription-issued",
    "ready-to-collect",
    "not-dispensed",
    # After a booked appointment the practice may prescribe, and a pharmacy report it.
    "appointment-booked",
    "attended",
    "did-not-attend",
)


@dataclass(frozen=True)
class Candidate:
    recommendation_id: str
    nhs_number: str
    status: str
    created_at: datetime
    prescription_id: str | None  # matched to a prescription before, if ever


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes; a pharmacy's lastModified carries its offset.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def match_prescription(
    candidates: Sequence[Candidate],
    *,
    nhs_number: str,
    prescription_id: str,
    observed_at: datetime | None,
) -> str | None:
    """The recommendation id the update is about, or None when none or several could be."""
    same_person = [c for c in candidates if c.nhs_number == nhs_number]
    already = [c.recommendation_id for c in same_person if c.prescription_id == prescription_id]
    if already:
        return already[0]
    open_ones = [
        c
        for c in same_person
        if c.status in AWAITING_PRESCRIPTION
        and c.prescription_id is None
        and (observed_at is None or _utc(c.created_at) <= _utc(observed_at))
    ]
    return open_ones[0].recommendation_id if len(open_ones) == 1 else None
