"""Instants as Liaison keeps them: aware, in UTC."""

from datetime import UTC, datetime


def in_utc(value: datetime) -> datetime:
    """An aware instant in UTC; one past the range Python holds (9999-12-31T23:59-23:59)
    is refused rather than overflowing later."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as error:
        raise ValueError("is outside the range of dates Liaison can hold") from error
