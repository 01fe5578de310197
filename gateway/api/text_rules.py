"""What a name or a piece of free text may hold.

Control characters (C0 but tab and line breaks in free text, DEL, C1) and the Unicode
bidirectional controls (U+202A-U+202E, U+2066-U+2069, the "Trojan Source" characters,
https://trojansource.codes) can make a name read differently in a letter, an email or a
console than it is stored, and NUL cannot be stored in PostgreSQL text at all. They are
refused with a message naming the field (pydantic reports where).
"""

import re
from typing import Annotated, Final

from pydantic import AfterValidator, Field

from gateway.domain.instants import in_utc

__all__ = ["ShortText", "in_utc", "plain_name", "plain_text"]

_IN_NAMES: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_IN_FREE_TEXT: Final = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]"
)


def plain_name(value: str) -> str:
    if _IN_NAMES.search(value):
        raise ValueError("must not hold control or text-direction characters")
    return value


def plain_text(value: str) -> str:
    if _IN_FREE_TEXT.search(value):
        raise ValueError("must not hold control or text-direction characters")
    return value


ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(plain_name)]
