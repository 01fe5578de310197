"""The port every notification channel implements (SMTP email, GOV.UK Notify, webhook)."""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready to send. `reference` is Liaison's notification id; providers that
    accept a client reference get it, so a resend can be traced to one notification."""

    reference: str
    kind: str  # message kind, e.g. "ready-to-collect"; selects a Notify template
    to: str  # email address or E.164 phone number
    subject: str
    body: str
    personalisation: dict[str, str] = field(default_factory=dict)


class NotificationChannel(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> str:
        """Send; return the provider's message id. Raises AdapterError subclasses."""
        ...
