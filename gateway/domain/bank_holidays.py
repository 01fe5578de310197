"""The bank holidays of England and Wales, 2020-2040, as a table.

The `holidays` package (https://github.com/vacanza/holidays) is the source: its
`country_holidays("GB", subdiv="ENG")`, substitute days included, wrote this table, and
tests/gateway/test_bank_holidays.py checks every year of it against the installed package,
so an upgrade that moves or adds a day fails there until the table is written again
(`python -m gateway.domain.bank_holidays` prints it). The package costs about 10 MB
resident in every gateway and worker process once a calendar is built, because it loads
the rules of every country it knows; the table is a few kilobytes. A day outside the
table's years is still answered by the package, imported then.
"""

import sys
from collections.abc import Container
from datetime import date
from functools import cache
from typing import Final

FIRST_YEAR: Final = 2020
LAST_YEAR: Final = 2040

# Year: the month-day of each bank holiday (or the weekday it is moved to), in order.
_TABLE: Final[dict[int, str]] = {
    2020: "01-01 04-10 04-13 05-08 05-25 08-31 12-25 12-26 12-28",
    2021: "01-01 04-02 04-05 05-03 05-31 08-30 12-25 12-26 12-27 12-28",
    2022: "01-01 01-03 04-15 04-18 05-02 06-02 06-03 08-29 09-19 12-25 12-26 12-27",
    2023: "01-01 01-02 04-07 04-10 05-01 05-08 05-29 08-28 12-25 12-26",
    2024: "01-01 03-29 04-01 05-06 05-27 08-26 12-25 12-26",
    2025: "01-01 04-18 04-21 05-05 05-26 08-25 12-25 12-26",
    2026: "01-01 04-03 04-06 05-04 05-25 08-31 12-25 12-26 12-28",
    2027: "01-01 03-26 03-29 05-03 05-31 08-30 12-25 12-26 12-27 12-28",
    2028: "01-01 01-03 04-14 04-17 05-01 05-29 08-28 12-25 12-26",
    2029: "01-01 03-30 04-02 05-07 05-28 08-27 12-25 12-26",
    2030: "01-01 04-19 04-22 05-06 05-27 08-26 12-25 12-26",
    2031: "01-01 04-11 04-14 05-05 05-26 08-25 12-25 12-26",
    2032: "01-01 03-26 03-29 05-03 05-31 08-30 12-25 12-26 12-27 12-28",
    2033: "01-01 01-03 04-15 04-18 05-02 05-30 08-29 12-25 12-26 12-27",
    2034: "01-01 01-02 04-07 04-10 05-01 05-29 08-28 12-25 12-26",
    2035: "01-01 03-23 03-26 05-07 05-28 08-27 12-25 12-26",
    2036: "01-01 04-11 04-14 05-05 05-26 08-25 12-25 12-26",
    2037: "01-01 04-03 04-06 05-04 05-25 08-31 12-25 12-26 12-28",
    2038: "01-01 04-23 04-26 05-03 05-31 08-30 12-25 12-26 12-27 12-28",
    2039: "01-01 01-03 04-08 04-11 05-02 05-30 08-29 12-25 12-26 12-27",
    2040: "01-01 01-02 03-30 04-02 05-07 05-28 08-27 12-25 12-26",
}

ENGLAND_AND_WALES: Final[frozenset[date]] = frozenset(
    date(year, int(day[:2]), int(day[3:])) for year, days in _TABLE.items() for day in days.split()
)


@cache
def _outside_table() -> Container[date]:
    import holidays

    # England and Wales share their bank holidays; Scotland and Northern Ireland do not.
    return holidays.country_holidays("GB", subdiv="ENG")


def is_bank_holiday(day: date) -> bool:
    """Whether `day` is a bank holiday in England and Wales."""
    if FIRST_YEAR <= day.year <= LAST_YEAR:
        return day in ENGLAND_AND_WALES
    return day in _outside_table()


def package_table(first: int = FIRST_YEAR, last: int = LAST_YEAR) -> dict[int, str]:
    """The table as the installed `holidays` package gives it, to compare or rewrite."""
    import holidays

    table: dict[int, list[str]] = {}
    for day in sorted(holidays.country_holidays("GB", subdiv="ENG", years=range(first, last + 1))):
        table.setdefault(day.year, []).append(day.strftime("%m-%d"))
    return {year: " ".join(days) for year, days in table.items()}


if __name__ == "__main__":
    for year, days in package_table().items():
        sys.stdout.write(f'    {year}: "{days}",\n')
