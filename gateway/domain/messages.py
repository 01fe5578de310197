"""Plain-language wording of every message, per event and recipient.

Service-user wording never names a medicine, smoking, mental health or a diagnosis:
stigma kept people away from generic services, and a text can be read by anyone
holding the phone.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Wording:
    subject: str
    body: str


def _practitioner(
    event: str, rec_id: str, detail: str | None, product: str, pharmacy: str | None
) -> Wording:
    ref = f"Liaison reference {rec_id}"
    match event:
        case "ready-to-collect":
            where = f" at {pharmacy}" if pharmacy else ""
            return Wording(
                "Prescription ready to collect",
                f"The prescription you recommended ({product}) is ready to collect{where}. "
                f"The service user has been told.\n\n{ref}",
            )
        case "rejected":
            return Wording(
                "GP practice declined your recommendation",
                f"The GP practice declined the recommendation for {product}.\n"
                f"Their reason: {detail or 'no reason given'}\n\n{ref}",
            )
        case "appointment-needed":
            return Wording(
                "GP practice wants to see the service user",
                f"The GP practice asks to see the service user before prescribing {product}. "
                f"The service user has been asked to book an appointment.\n\n{ref}",
            )
        case "delivery-failed":
            return Wording(
                "Recommendation could not be delivered",
                f"Liaison could not deliver the recommendation for {product} to the GP "
                f"practice: {detail or 'the practice system did not answer'}. "
                f"The integration team can see it and will replay it.\n\n{ref}",
            )
    return Wording(f"Update: {event}", f"Status is now {event}.\n\n{ref}")


def _service_user(event: str, pharmacy: str | None) -> Wording:
    match event:
        case "ready-to-collect":
            where = f" from {pharmacy}" if pharmacy else " from your usual pharmacy"
            return Wording(
                "Your prescription is ready",
                f"Hello, your prescription is ready to collect{where}. "
                "Reply to your care worker if you need help getting there.",
            )
        case "appointment-needed":
            return Wording(
                "Please book a GP appointment",
                "Hello, your GP practice would like to see you. Please call them to book an "
                "appointment. Your care worker can help if you would like.",
            )
    return Wording(
        "An update from your care team",
        "Hello, your care worker has an update for you. They will be in touch.",
    )


def compose(
    *,
    event: str,
    recipient: str,
    recommendation_id: str,
    detail: str | None,
    payload: dict[str, Any],
    product_name: str,
    pharmacy: str | None,
) -> Wording:
    if recipient == "service-user":
        return _service_user(event, pharmacy)
    return _practitioner(event, recommendation_id, detail, product_name, pharmacy)
