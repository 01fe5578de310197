"""Chase-ups (gateway.services.chase_ups): a reminder to a practice that has not acted."""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from fhir_profiles import systems
from fhir_profiles.builders_common import FHIR_ID, format_date, instant, narrative, serialise, urn
from fhir_profiles.validation import validate_all

CHASE_UP_ID: Final = f"{systems.LIAISON_CANONICAL}/Id/chase-up"


@dataclass(frozen=True)
class ChaseUpRequest:
    resource: dict[str, Any]  # the CommunicationRequest, as Liaison keeps it
    bundle: dict[str, Any]  # the transaction that delivers it (one conditional create)


def build_chase_up(
    *,
    chase_up_id: str,
    number: int,
    original: Mapping[str, Any],
    original_url: str,
    medication_request_url: str,
    authored_on: datetime,
    first_sent_on: date,
    working_days: int,
) -> ChaseUpRequest:
    """A new CommunicationRequest reminding the practice of `original` (the request's own
    CommunicationRequest as Liaison stored it), and the transaction that delivers it.

    The practice's system assigned its own ids to the original resources, so the chase-up
    points at them by Liaison's absolute URLs (readable on Liaison's FHIR API) and by the
    recommendation identifier, which both carry. Conditional create on the chase-up id makes
    a retried send land once. Same input, same output.
    """
    if not FHIR_ID.fullmatch(chase_up_id):
        raise ValueError("chase_up_id must be a FHIR id: 1-64 of A-Z a-z 0-9 - .")
    if authored_on.tzinfo is None or authored_on.utcoffset() is None:
        raise ValueError("authored_on must be timezone-aware")
    if number < 1 or working_days < 0:
        raise ValueError("number must be 1 or more and working_days not negative")
    recommendation = _recommendation_identifier(original)
    text = _reminder_text(
        original,
        number=number,
        reference=recommendation["value"],
        first_sent_on=first_sent_on,
        working_days=working_days,
    )
    data = _chase_up_data(
        original,
        chase_up_id=chase_up_id,
        number=number,
        recommendation=recommendation,
        text=text,
        original_url=original_url,
        medication_request_url=medication_request_url,
        authored_on=authored_on,
    )
    resource = serialise("CommunicationRequest", data)
    validate_all([resource])
    return ChaseUpRequest(resource=resource, bundle=_delivery_bundle(resource, chase_up_id))


def _recommendation_identifier(original: Mapping[str, Any]) -> dict[str, Any]:
    recommendation = next(
        (
            dict(i)
            for i in original.get("identifier", [])
            if i.get("system") == systems.RECOMMENDATION_ID
        ),
        None,
    )
    if recommendation is None:
        raise ValueError("the original CommunicationRequest has no recommendation identifier")
    return recommendation


def _reminder_text(
    original: Mapping[str, Any],
    *,
    number: int,
    reference: str,
    first_sent_on: date,
    working_days: int,
) -> str:
    summary = next(
        (str(p["contentString"]) for p in original.get("payload", []) if "contentString" in p),
        "",
    )
    return (
        f"Reminder {number}: on {format_date(first_sent_on)} Liaison sent this practice a "
        f"request about a stop-smoking medicine (reference {reference}). "
        f"No response has been seen after {working_days} working days. Please accept it, "
        "decline it with a reason, or ask to see the patient, by updating the linked Task "
        "or in the Liaison practice inbox. The original request follows.\n\n" + summary
    )


def _chase_up_data(
    original: Mapping[str, Any],
    *,
    chase_up_id: str,
    number: int,
    recommendation: dict[str, Any],
    text: str,
    original_url: str,
    medication_request_url: str,
    authored_on: datetime,
) -> dict[str, Any]:
    """The chase-up CommunicationRequest: the original's parties and reasons, a new id."""
    original_reference = {
        "reference": original_url,
        "type": "CommunicationRequest",
        "identifier": recommendation,
    }
    data: dict[str, Any] = {
        "resourceType": "CommunicationRequest",
        "id": chase_up_id,
        "meta": copy.deepcopy(
            original.get("meta", {"profile": [systems.PROFILE_COMMUNICATION_REQUEST]})
        ),
        "text": narrative(f"Reminder {number} about request {recommendation['value']}"),
        "identifier": [recommendation, {"system": CHASE_UP_ID, "value": chase_up_id}],
        "groupIdentifier": recommendation,
        "status": "active",
        # Elapsed time is not clinical urgency (FHIR request-priority: urgent is a triage
        # signal): every reminder stays routine.
        "priority": "routine",
        "subject": copy.deepcopy(original.get("subject")),
        "about": [
            original_reference,
            {"reference": medication_request_url, "type": "MedicationRequest"},
        ],
        "payload": [
            {"contentString": text},
            {"contentReference": dict(original_reference)},
        ],
        "authoredOn": instant(authored_on),
        "requester": copy.deepcopy(original.get("requester")),
        "recipient": copy.deepcopy(original.get("recipient")),
        "sender": copy.deepcopy(original.get("sender")),
        "reasonCode": copy.deepcopy(original.get("reasonCode")),
    }
    for meta_field in ("versionId", "lastUpdated"):
        data["meta"].pop(meta_field, None)
    return data


def _delivery_bundle(resource: dict[str, Any], chase_up_id: str) -> dict[str, Any]:
    """One conditional create on the delivery id, so a retried send lands once."""
    sent = copy.deepcopy(resource)
    del sent["id"]
    sent["identifier"] = [
        *sent["identifier"],
        {"system": systems.DELIVERY_ID, "value": chase_up_id},
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": chase_up_id,
        "meta": {"profile": [systems.UKCORE_BUNDLE]},
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urn(chase_up_id),
                "resource": sent,
                "request": {
                    "method": "POST",
                    "url": "CommunicationRequest",
                    "ifNoneExist": f"identifier={systems.DELIVERY_ID}|{chase_up_id}",
                },
            }
        ],
    }
    return serialise("Bundle", bundle)
