"""The two shapes of a message's words: a template and what it renders to."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    subject: str
    body: str


@dataclass(frozen=True)
class Template:
    """`str.format` text. Fields: product, practice, given_practice, reason, where, number,
    ref, medicines, appointment, booking, told; for service users and the person they named:
    where, phone, when, place."""

    subject: str
    body: str
