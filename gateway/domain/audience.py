"""Who hears about which event, on which channel. Pure rules over the recommendation."""

from dataclasses import dataclass
from typing import Any, Final

# event -> recipients told about it.
AUDIENCE: Final[dict[str, tuple[str, ...]]] = {
    "ready-to-collect": ("practitioner", "service-user"),
    "appointment-needed": ("practitioner", "service-user"),
    "rejected": ("practitioner",),
    "delivery-failed": ("practitioner",),
}


@dataclass(frozen=True)
class Addressee:
    recipient: str  # practitioner | service-user
    channel: str  # email | sms
    suppressed_reason: str | None = None


def addressees(event: str, payload: dict[str, Any]) -> list[Addressee]:
    """Everyone who should hear about `event`. A recipient who may not be contacted is still
    listed, marked suppressed, so the timeline shows why nothing was sent."""
    result: list[Addressee] = []
    for recipient in AUDIENCE.get(event, ()):
        if recipient == "practitioner":
            result.append(Addressee("practitioner", "email"))
            continue
        contact = payload["service_user"].get("contact") or {}
        preferred = contact.get("preferred", "sms")
        channel = "sms" if preferred == "sms" else "email"
        if not payload.get("consent", {}).get("notify_service_user", False):
            result.append(Addressee(recipient, channel, "service user did not consent"))
        elif not contact.get("mobile" if channel == "sms" else "email"):
            result.append(Addressee(recipient, channel, f"no {channel} contact given"))
        else:
            result.append(Addressee(recipient, channel))
    return result
