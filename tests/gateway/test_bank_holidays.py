"""The England and Wales bank-holiday table against the `holidays` package it was written from."""

from datetime import date

import holidays

from gateway.domain import bank_holidays
from gateway.domain.bank_holidays import FIRST_YEAR, LAST_YEAR, is_bank_holiday


def test_every_year_of_the_table_is_the_packages() -> None:
    # A package upgrade that moves or adds a day fails here: rewrite the table with
    # `python -m gateway.domain.bank_holidays`.
    assert bank_holidays.package_table() == bank_holidays._TABLE
    expected = set(
        holidays.country_holidays("GB", subdiv="ENG", years=range(FIRST_YEAR, LAST_YEAR + 1))
    )
    assert expected == bank_holidays.ENGLAND_AND_WALES


def test_days_outside_the_table_are_answered_by_the_package() -> None:
    assert is_bank_holiday(date(LAST_YEAR + 1, 12, 25))
    assert is_bank_holiday(date(2019, 5, 6))  # early May bank holiday
    assert not is_bank_holiday(date(LAST_YEAR + 1, 12, 24))


def test_special_and_substitute_days_are_in_the_table() -> None:
    assert is_bank_holiday(date(2022, 9, 19))  # the state funeral of Queen Elizabeth II
    assert is_bank_holiday(date(2023, 5, 8))  # the coronation of King Charles III
    assert is_bank_holiday(date(2027, 12, 28))  # Boxing Day on a Sunday, moved to Tuesday
    assert not is_bank_holiday(date(2027, 12, 29))
