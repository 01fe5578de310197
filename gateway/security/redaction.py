"""Remove personal data from anything about to be logged.

Three nets, because no single one catches everything:
- patterns for what has a shape: NHS numbers (10 digits, optionally 3-3-4), UK and
  international phone numbers, email addresses;
- keys that always hold personal data in Liaison's payloads (`nhs_number`, `given`,
  `family`, `email`, ...), whose values are dropped whole wherever they appear;
- names, which have no shape: names Liaison has accepted are remembered process-wide and
  their words replaced wherever they appear, including inside exception messages.

These nets are the second line. The first is structural: log calls carry ids, route
templates and status words, never a body or a patient's details
(gateway.api.middleware.request_context writes the access line from a fixed set of fields;
the database engines hide statement parameters from error texts), and the fields named in
`STRUCTURAL_FIELDS` are Liaison's own values, so they are written as they are and no name
can blind them.

Names are learnt only from what has been vouched for: stored recommendations (validated
intake, and every recommendation a process loads) in one set, which request bodies cannot
touch; and the name fields of an authenticated caller's JSON body (a few short strings per
request, so a body cannot flood it) in another. An unauthenticated body teaches nothing, so
it can neither blind a log line nor push a real name out.

Over-redaction is accepted: a log line that loses a harmless word is better than one that
names a patient.
"""

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"

# A phone number: +44 7700 900123, 0044..., 447700900123, 07700 900123, (020) 7946 0000.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(0\)[\s.-]?)?\d(?:[\s.-]?\d){6,12}"
    r"|00\d{1,3}[\s.-]?\d(?:[\s.-]?\d){6,12}"
    r"|44\d{10}"
    r"|\(0\d{2,4}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}"
    r"|0\d(?:[\s.-]?\d){8,9}"
    r")(?![\w])"
)
# An NHS number: 10 digits, alone or grouped 3-3-4. Dashes and letters around it mean it is
# part of something else (a UUID segment, an identifier), so those are not touched.
_NHS_NUMBER = re.compile(r"(?<![\w-])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\w-])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Names may carry an apostrophe, straight or curly (O'Neill, O\u2019Neill).
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")

# Keys whose values are personal data whatever they look like.
SENSITIVE_KEYS = frozenset(
    {
        "nhs_number",
        "nhsnumber",
        "name",
        "names",
        "given",
        "family",
        "prefix",
        "full_name",
        "patient_name",
        "email",
        "email_address",
        "mobile",
        "phone",
        "phone_number",
        "telecom",
        "birth_date",
        "birthdate",
        "date_of_birth",
        "address",
        "postcode",
        "contact",
        "payload",
        "service_user",
        "authorization",
        "cookie",
        "password",
        "secret",
        "client_assertion",
        "access_token",
    }
)
# Where names live in Liaison's bodies and in FHIR HumanName.
_NAME_KEYS = frozenset({"name", "given", "family", "full_name", "patient_name"})


# Log fields whose values Liaison makes itself (a registered client id, a route template,
# a status code, a task name): written as they are, never redacted.
STRUCTURAL_FIELDS = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "method",
        "route",
        "status",
        "duration_ms",
        "client_id",
        "task",
        "task_id",
        "state",
    }
)
# What one authenticated request may teach: a person has a few names, each short
# (FHIR HumanName parts; Liaison's own fields allow 200 characters), so a body cannot
# crowd out the names other requests taught.
MAX_REQUEST_NAMES = 32
MAX_NAME_LENGTH = 200
MAX_REQUEST_WORDS = 32


class _Words:
    """Words of names, most recently seen kept, up to a capacity (thread-safe)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._words: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, names: Iterable[str], *, max_words: int | None = None) -> None:
        words = [w for name in names for w in _WORD.findall(name) if len(w) >= 2]
        with self._lock:
            for word in words[:max_words]:
                for variant in (word, word.upper()):
                    self._words[variant] = None
                    self._words.move_to_end(variant)
            while len(self._words) > self._capacity:
                self._words.popitem(last=False)

    def __contains__(self, word: str) -> bool:
        return word in self._words

    def __bool__(self) -> bool:
        return bool(self._words)

    def clear(self) -> None:
        with self._lock:
            self._words.clear()


class KnownNames:
    """Words of the names this process has accepted, in two sets that cannot crowd each
    other out: stored recommendations', and authenticated request bodies'."""

    def __init__(self, capacity: int = 200_000, request_capacity: int = 20_000) -> None:
        self._stored = _Words(capacity)
        self._requests = _Words(request_capacity)

    def remember(self, names: Iterable[str]) -> None:
        """Names of a stored (validated) recommendation."""
        self._stored.remember(names)

    def remember_from_request(self, names: Iterable[str]) -> None:
        """Names in an authenticated caller's body: a few short ones at most."""
        short = [n for n in names if len(n) <= MAX_NAME_LENGTH]
        self._requests.remember(short[:MAX_REQUEST_NAMES], max_words=MAX_REQUEST_WORDS)

    def __contains__(self, word: str) -> bool:
        return word in self._stored or word in self._requests

    def __bool__(self) -> bool:
        return bool(self._stored) or bool(self._requests)

    def clear(self) -> None:
        self._stored.clear()
        self._requests.clear()


known_names = KnownNames()


def redact_shapes(text: str) -> str:
    """Emails, phone numbers and NHS numbers, found by their shape alone."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return _NHS_NUMBER.sub("[nhs-number]", text)


def redact_text(text: str) -> str:
    text = redact_shapes(text)
    if known_names:
        text = _WORD.sub(lambda m: "[name]" if m.group(0) in known_names else m.group(0), text)
    return text


def redact(value: Any, *, key: str | None = None) -> Any:
    """A copy of `value` (str, mapping, sequence or anything else) safe to log."""
    if key is not None and key.lower() in SENSITIVE_KEYS and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


def redact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A log line's fields safe to write: structural ones (top level, plain values) as they
    are, every other through `redact`."""
    return {
        key: value
        if key in STRUCTURAL_FIELDS and (value is None or isinstance(value, str | int | float))
        else redact(value, key=key)
        for key, value in fields.items()
    }


def names_in(value: Any, *, under_name: bool = False) -> list[str]:
    """Every string found under a name-like key of a JSON-like value (Liaison's v1 bodies,
    FHIR HumanName), to feed `known_names`."""
    found: list[str] = []
    if isinstance(value, str):
        if under_name:
            found.append(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            found.extend(names_in(v, under_name=under_name or str(k).lower() in _NAME_KEYS))
    elif isinstance(value, list | tuple):
        for v in value:
            found.extend(names_in(v, under_name=under_name))
    return found


def remember_names_in(value: Any) -> None:
    """Learn the names in a stored recommendation's payload (or FHIR resource)."""
    names = names_in(value)
    if names:
        known_names.remember(names)
