"""Delivery Bundles and envelopes for the Send Document tests."""

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from fhir_profiles.builders import build_resources, build_transaction_bundle
from fhir_profiles.recommendation import MedicationChoice
from fhir_profiles.send_document.contract import (
    DocumentEnvelope,
    DocumentKind,
    SendingOrganisation,
)
from tests.fhir_profiles.factories import SAFETY_CASES, make_facts

MESSAGE_ID = "3f1c8e2a-6d1b-4c55-9f0e-1b2a3c4d5e6f"
DOCUMENT_ID = "8a7b6c5d-4e3f-4a1b-9c2d-0e1f2a3b4c5d"
INBOX_URL = "https://liaison.example.org/inbox/requests/rec-0001"
TRUST = SendingOrganisation("RX4", "Northshire Mental Health NHS Trust", "0113 496 0000")
SENT_AT = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
ORIGINAL_SENT_AT = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


def delivery_bundle(safety: str = "none", **changes: Any) -> dict[str, Any]:
    facts = make_facts(current_medications=SAFETY_CASES[safety], **changes)
    return build_transaction_bundle(build_resources(facts), delivery_id="del-0001")


def combination_bundle(safety: str = "clozapine") -> dict[str, Any]:
    """A nicotine patch plus gum: two MedicationRequests in one delivery, as the builders
    deliver combination NRT."""
    return delivery_bundle(
        safety,
        medication=MedicationChoice("nicotine-21mg-24h-patches", "One patch every 24 hours", 56),
        additional_medications=(
            MedicationChoice("nicotine-2mg-gum", "One piece when the urge comes", 56),
        ),
    )


def envelope(kind: DocumentKind = DocumentKind.REQUEST, **changes: Any) -> DocumentEnvelope:
    later = kind is not DocumentKind.REQUEST
    base = DocumentEnvelope(
        message_id=MESSAGE_ID,
        document_id=DOCUMENT_ID,
        version=2 if later else 1,
        kind=kind,
        recipient_ods="A81001",
        sender=TRUST,
        sent_at=SENT_AT,
        sender_reference="del-0001",
        inbox_url=INBOX_URL,
        withdrawal_reason=(
            "The patient has decided not to go ahead for now."
            if kind is DocumentKind.WITHDRAWAL
            else None
        ),
        original_sent_at=ORIGINAL_SENT_AT if later else None,
        sender_mailbox="X26ABC1",
    )
    return dataclasses.replace(base, **changes)


def parsed(message: bytes) -> dict[str, Any]:
    value = json.loads(message)
    assert isinstance(value, dict)
    return value


def resources(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every resource of the message and of its document Bundle, by resource type (the
    message Bundle's own Organization as `HeaderOrganization`)."""
    found: dict[str, dict[str, Any]] = {}
    for entry in message["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Bundle":
            found["DocumentBundle"] = resource
            for inner in resource["entry"]:
                found[inner["resource"]["resourceType"]] = inner["resource"]
        elif resource["resourceType"] == "Organization":
            found["HeaderOrganization"] = resource
        else:
            found[resource["resourceType"]] = resource
    return found
