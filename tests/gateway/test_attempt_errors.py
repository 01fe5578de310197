"""A GP system's error text loses the recommendation's own identifiers, in the spellings a
system might write them, and keeps the rest of the reason."""

from datetime import date

import pytest

from gateway.cli import sample_recommendation
from gateway.domain.attempt_errors import PersonIdentifiers, without_identifiers

SAM = PersonIdentifiers.of_payload(sample_recommendation("Y00001"))


def test_the_identifiers_come_from_the_service_user_in_the_payload() -> None:
    assert (
        PersonIdentifiers(
            names=("Sam", "Taylor"),
            nhs_number="9434765919",
            birth_date=date(1974, 3, 2),
            phones=("+447700900123",),
            emails=("sam@example.org",),
        )
        == SAM
    )


@pytest.mark.parametrize(
    ("written", "token"),
    [
        ("Sam", "[name]"),
        ("TAYLOR", "[name]"),
        ("taylor", "[name]"),
        ("9434765919", "[nhs-number]"),
        ("943 476 5919", "[nhs-number]"),
        ("943-476-5919", "[nhs-number]"),
        ("94 34 76 59 19", "[nhs-number]"),
        ("1974-03-02", "[birth-date]"),
        ("19740302", "[birth-date]"),
        ("02/03/1974", "[birth-date]"),
        ("2/3/1974", "[birth-date]"),
        ("02.03.1974", "[birth-date]"),
        ("03/02/1974", "[birth-date]"),
        ("2 March 1974", "[birth-date]"),
        ("2nd Mar 1974", "[birth-date]"),
        ("02-MAR-1974", "[birth-date]"),
        ("March 2, 1974", "[birth-date]"),
        ("+447700900123", "[phone]"),
        ("+44 7700 900123", "[phone]"),
        ("+44 (0)7700 900123", "[phone]"),
        ("0044 7700 900 123", "[phone]"),
        ("07700 900123", "[phone]"),
        ("07700-900-123", "[phone]"),
        ("sam@example.org", "[email]"),
        ("SAM@EXAMPLE.ORG", "[email]"),
    ],
)
def test_each_spelling_of_an_identifier_is_replaced(written: str, token: str) -> None:
    assert without_identifiers(f"refused: {written} unknown", SAM) == f"refused: {token} unknown"


def test_the_reason_and_other_numbers_are_kept() -> None:
    text = (
        "POST /fhir answered 422: Task 9056f9d6-f0cd-4334-bbcf-e6049a02b315 refused at "
        "2026-11-26T00:45:45Z; samples 3, taylored rules 12"
    )
    assert without_identifiers(text, SAM) == text
