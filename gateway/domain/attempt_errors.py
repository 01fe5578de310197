"""A GP system's error text, without the service user's own identifiers, before it is kept.

GP systems echo what they were sent in their diagnostics ("Patient Sam Taylor (NHS
943 476 5919) not registered"). Attempt errors are shown to integration engineers
(`/ops/deliveries/{id}`, the practice's health) and the last one reaches the timeline, and
none of those may name a patient. Shape patterns alone cannot find a name, so the text is
cleaned of this recommendation's own identifiers in the spellings a system might use:
the NHS number with any separators (NHS Digital's display format is 3-3-4, "943 476 5919"),
the birth date in ISO 8601, day-month-year with numbers or month names, and US order, the
mobile in national and international forms (ITU-T E.164, +44 and 0-prefixed), the email
in any case, and every word of the name in any case.

Pure: the caller reads the recommendation's payload (the v1 body) and stores the result.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
# Between two digits of a number written by a person: spaces, dashes, dots or slashes.
_GAP = r"[\s./-]*"


@dataclass(frozen=True)
class PersonIdentifiers:
    names: tuple[str, ...] = ()
    nhs_number: str | None = None
    birth_date: date | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @classmethod
    def of_payload(cls, payload: Mapping[str, Any]) -> "PersonIdentifiers":
        """The service user's identifiers in a recommendation's v1 payload."""
        person = payload.get("service_user") or {}
        name = person.get("name") or {}
        contact = person.get("contact") or {}
        names = [v for v in (name.get("given"), name.get("family")) if isinstance(v, str)]
        born = person.get("birth_date")
        try:
            birth_date = date.fromisoformat(born) if isinstance(born, str) else None
        except ValueError:
            birth_date = None
        nhs = person.get("nhs_number")
        return cls(
            names=tuple(names),
            nhs_number=nhs if isinstance(nhs, str) else None,
            birth_date=birth_date,
            phones=tuple(p for p in (contact.get("mobile"),) if isinstance(p, str)),
            emails=tuple(e for e in (contact.get("email"),) if isinstance(e, str)),
        )


def _spaced(digits: str) -> str:
    return _GAP.join(re.escape(d) for d in digits)


def _number(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\d){pattern}(?!\d)")


def _nhs_number(value: str) -> re.Pattern[str] | None:
    digits = re.sub(r"\D", "", value)
    return _number(_spaced(digits)) if len(digits) == 10 else None


def _phone(value: str) -> re.Pattern[str] | None:
    digits = re.sub(r"\D", "", value)
    if digits.startswith("44"):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return _number(_spaced(digits)) if len(digits) >= 7 else None
    if len(national) < 7:
        return None
    # +44 7700 900123, 0044 7700 900123, 44..., +44 (0)7700 900123, 07700 900123.
    prefix = rf"(?:(?:\+|00)?{_GAP}44{_GAP}(?:\(0\){_GAP})?|0)?"
    return _number(prefix + _spaced(national))


def _birth_date(born: date) -> re.Pattern[str]:
    day, month, year = born.day, born.month, born.year
    d = rf"0?{day}"
    m = rf"0?{month}"
    name = _MONTHS[month - 1]
    month_name = rf"(?:{name}|{name[:3]}\.?)"
    ordinal = rf"{d}(?:st|nd|rd|th)?"
    forms = [
        rf"{year}{_GAP}{month:02d}{_GAP}{day:02d}",  # ISO 8601, 19740302
        rf"{d}[\s./-]+{m}[\s./-]+{year}",  # 02/03/1974, 2.3.1974
        rf"{m}[\s./-]+{d}[\s./-]+{year}",  # 03/02/1974
        rf"{ordinal}[\s./-]*{month_name}[\s,./-]*{year}",  # 2nd March 1974, 02-Mar-1974
        rf"{month_name}[\s./-]*{ordinal},?[\s./-]*{year}",  # March 2, 1974
    ]
    return re.compile(rf"(?<![\w]){'|'.join(f'(?:{f})' for f in forms)}(?![\w])", re.IGNORECASE)


def _words(names: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted(
        {w.lower() for n in names for w in _WORD.findall(n) if len(w) >= 2}, key=len, reverse=True
    )
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)


def without_identifiers(text: str, who: PersonIdentifiers) -> str:
    """`text` with each of `who`'s identifiers replaced by what it was ("[name]", ...)."""
    replacements: list[tuple[re.Pattern[str] | None, str]] = [
        *((re.compile(re.escape(e), re.IGNORECASE), "[email]") for e in who.emails),
        (_nhs_number(who.nhs_number) if who.nhs_number else None, "[nhs-number]"),
        *((_phone(p), "[phone]") for p in who.phones),
        (_birth_date(who.birth_date) if who.birth_date else None, "[birth-date]"),
        (_words(who.names), "[name]"),
    ]
    for pattern, token in replacements:
        if pattern is not None:
            text = pattern.sub(token, text)
    return text
