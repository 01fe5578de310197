"""What a pharmacy's name, typed by practice staff or set on a Task by a GP system, may be
before Liaison repeats it to a service user ("ready to collect at <pharmacy>").

The name reaches a person's phone, so it must be a name and nothing more: no link (a
phishing lure sent under the NHS's name), no phone number or email address to call, no
control characters, and short enough for one SMS fragment beside the rest of the text.
"""

import re
from typing import Final

MAX_LENGTH: Final = 80
_LINK: Final = re.compile(
    r"(?i)(https?:|www\.|//|[a-z0-9-]+\.(?:com|co|uk|org|net|info|io|ly|me|app|link|nhs)\b)"
)
_PHONE: Final = re.compile(r"(?:\d[\s().+-]*){6,}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def problem(name: str) -> str | None:
    """Why this cannot be said as a pharmacy's name, or None when it can."""
    if len(name) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    if _CONTROL.search(name):
        return "must not hold control characters"
    if _LINK.search(name):
        return "a pharmacy's name, not a web address"
    if "@" in name:
        return "a pharmacy's name, not an email address"
    if _PHONE.search(name):
        return "a pharmacy's name, not a phone number"
    return None


def sayable(name: str | None) -> str | None:
    """The name if it may be repeated to a service user, else None (the message then says
    "your pharmacy" instead)."""
    if name is None:
        return None
    name = " ".join(name.split())
    return name if name and problem(name) is None else None
