"""Reading a FHIR `dateTime` or `instant` as another system wrote it (FHIR R4 §2.24.0.1:
https://hl7.org/fhir/R4/datatypes.html#dateTime): "Z" or a UTC offset, as ISO 8601.

One reader for every adapter and profile; what a caller does with a value that carries no
zone (take it as UTC, keep it, refuse it) stays the caller's choice.
"""

from datetime import UTC, datetime
from typing import Any


def read_datetime(value: Any) -> datetime | None:
    """The moment `value` names, as written (naive if it has no zone); None when it is not a
    string or not a date and time."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def read_datetime_as_utc(value: Any) -> datetime | None:
    """As `read_datetime`, a value without a zone taken as UTC."""
    moment = read_datetime(value)
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
