"""The FHIR search parameters Liaison supports, and turning a query string into a search.

`SEARCH_PARAMS` is the one table both the search and the CapabilityStatement read, so the
statement lists exactly what works. Unknown parameters are refused (400) rather than
ignored: a typo should not silently widen a search over patient data.
"""

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from fhir_profiles import systems
from gateway.store.repositories.fhir_search import (
    Comparator,
    DateBound,
    FhirSearch,
    IdentifierToken,
    Tenant,
)

STORED_TYPES: Final = ("MedicationRequest", "CommunicationRequest", "Task", "DetectedIssue")
CONFORMANCE_TYPES: Final = ("StructureDefinition", "CodeSystem", "ValueSet", "ConceptMap")
DEFAULT_COUNT: Final = 20
MAX_COUNT: Final = 100


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: Literal["token", "date", "reference", "uri"]
    documentation: str
    definition: str | None = None  # the base R4 SearchParameter, where one applies as is


_ID = SearchParam(
    "_id",
    "token",
    "Logical id; several separated by commas.",
    "http://hl7.org/fhir/SearchParameter/Resource-id",
)
_LAST_UPDATED = SearchParam(
    "_lastUpdated",
    "date",
    "When Liaison last changed the resource; prefixes eq, ne, gt, ge, lt, le; a date or a "
    "dateTime with a time zone; repeat it for a range.",
    "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
)
_IDENTIFIER = SearchParam(
    "identifier",
    "token",
    # The contract (openapi.yaml) is the same for every deployment: it names the system by
    # the setting, not by one deployment's URL.
    "[system|]value. <LIAISON_FHIR_CANONICAL_BASE>/Id/recommendation|<recommendation id> "
    "finds every resource of a recommendation; a MedicationRequest also answers to the "
    "identifier its submitter gave it.",
)
_PATIENT = SearchParam(
    "patient",
    "reference",
    "By NHS number, with the identifier modifier only: "
    f"patient:identifier={systems.NHS_NUMBER}|<NHS number>.",
)
_STATUS = SearchParam("status", "token", "The resource's status code; several separated by commas.")
_URL = SearchParam("url", "uri", "The canonical URL of the definition.")

SEARCH_PARAMS: Final[Mapping[str, tuple[SearchParam, ...]]] = {
    **{t: (_ID, _LAST_UPDATED, _IDENTIFIER, _PATIENT, _STATUS) for t in STORED_TYPES},
    **{t: (_ID, _URL) for t in CONFORMANCE_TYPES},
}
RESULT_PARAMS: Final = ("_count", "_cursor", "_format")


class SearchError(ValueError):
    """A query the server cannot run; `parameter` names the one at fault, and `code` is the
    OperationOutcome issue type (R4 IssueType): `not-supported` for a parameter this server
    does not implement, `invalid` for a value it cannot read."""

    def __init__(
        self,
        parameter: str,
        message: str,
        *,
        code: Literal["invalid", "not-supported"] = "invalid",
    ) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.code = code


# ASCII digits only (re.ASCII): "\d" alone would take any script's digits.
_DATE: Final = re.compile(
    r"(?P<prefix>eq|ne|gt|ge|lt|le)?(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<time>\d{2}:\d{2}(:\d{2}(\.\d+)?)?)(?P<zone>Z|[+-]\d{2}:\d{2}))?)?)?",
    re.ASCII,
)
# The instants Python (and so Liaison) can hold; a bound past either end is clamped to it.
_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)
_LATEST: Final = datetime.max.replace(tzinfo=UTC)


def date_bound(raw: str, parameter: str = "_lastUpdated") -> DateBound:
    """One FHIR date search value (https://hl7.org/fhir/R4/search.html#date) as the range
    it stands for. Raises SearchError naming `parameter` for anything else."""
    # An unencoded "+" in a query string arrives as a space.
    found = _DATE.fullmatch(raw.strip().replace(" ", "+"))
    if found is None:
        raise SearchError(parameter, "must be [prefix]YYYY[-MM[-DD[Thh:mm[:ss]zone]]]")
    try:
        return _range(found)
    except (ValueError, OverflowError) as error:
        raise SearchError(parameter, "is not a valid date") from error


def _after(moment: datetime, step: timedelta) -> datetime:
    return _LATEST if _LATEST - moment < step else moment + step


def _range(found: re.Match[str]) -> DateBound:
    comparator: Comparator = found["prefix"] or "eq"  # type: ignore[assignment]
    year, month, day = int(found["year"]), int(found["month"] or 1), int(found["day"] or 1)
    if found["time"]:
        text = f"{found['year']}-{found['month']}-{found['day']}T{found['time']}"
        zone = "+00:00" if found["zone"] == "Z" else found["zone"]
        local = datetime.fromisoformat(text + zone)
        # 9999-12-31T23:59-23:59 is after the last instant Python holds in UTC.
        offset = local.utcoffset() or timedelta(0)
        naive = local.replace(tzinfo=None)
        if offset < timedelta(0) and datetime.max - naive < -offset:
            low = _LATEST
        elif offset > timedelta(0) and naive - datetime.min < offset:
            low = _EARLIEST
        else:
            low = local.astimezone(UTC)
        clock = found["time"]
        if "." in clock:
            step = timedelta(microseconds=1)
        elif clock.count(":") == 2:
            step = timedelta(seconds=1)
        else:
            step = timedelta(minutes=1)
        return DateBound(comparator, low, _after(low, step))
    low = datetime(year, month, day, tzinfo=UTC)
    if found["day"]:
        high = _after(low, timedelta(days=1))
    elif found["month"]:
        high = (
            _LATEST
            if year == 9999 and month == 12
            else datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        )
    else:
        high = _LATEST if year == 9999 else datetime(year + 1, 1, 1, tzinfo=UTC)
    return DateBound(comparator, low, high)


def _tokens(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _identifier(token: str) -> IdentifierToken:
    if "|" not in token:
        return IdentifierToken(None, token)
    system, value = token.split("|", 1)
    if not value:
        raise SearchError("identifier", "needs a value after the |")
    return IdentifierToken(system or "", value)


def encode_cursor(moment: datetime, resource_id: str) -> str:
    raw = f"{moment.astimezone(UTC).isoformat()}|{resource_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        moment, resource_id = raw.split("|", 1)
        return datetime.fromisoformat(moment), resource_id
    except ValueError as error:
        raise SearchError("_cursor", "is not a cursor Liaison issued") from error


def _count(values: list[str]) -> int:
    # isdigit() is true of "²" and of other scripts' digits: ASCII digits only.
    if len(values) > 1 or not re.fullmatch(r"[0-9]{1,6}", values[0]):
        raise SearchError("_count", f"must be one whole number from 0 to {MAX_COUNT}")
    return min(int(values[0]), MAX_COUNT)


def check_names(resource_type: str, names: Iterable[str]) -> None:
    names_listed = {p.name for p in SEARCH_PARAMS[resource_type]}
    allowed = (names_listed - {"patient"}) | set(RESULT_PARAMS)
    if "patient" in names_listed:
        # Liaison holds no Patient resources: patients are found by NHS number only.
        allowed.add("patient:identifier")
    for name in names:
        if name not in allowed:
            if name == "patient" and "patient" in names_listed:
                raise SearchError("patient", _PATIENT.documentation)
            raise SearchError(
                name,
                f"is not a search parameter Liaison supports for {resource_type}",
                code="not-supported",
            )


def parse_search(
    resource_type: str, params: list[tuple[str, str]], *, tenant: Tenant
) -> FhirSearch:
    check_names(resource_type, (name for name, _ in params))
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    identifiers = [_identifier(t) for v in grouped.get("identifier", []) for t in _tokens(v)]
    if len(grouped.get("identifier", [])) > 1:
        raise SearchError("identifier", "give it once, with alternatives separated by commas")
    nhs_numbers = []
    for value in grouped.get("patient:identifier", []):
        for token in _tokens(value):
            system, _, number = token.rpartition("|")
            if system != systems.NHS_NUMBER or not number:
                raise SearchError("patient:identifier", _PATIENT.documentation)
            nhs_numbers.append(number.replace(" ", ""))
    cursor = grouped.get("_cursor")
    return FhirSearch(
        resource_type=resource_type,
        tenant=tenant,
        ids=tuple(t for v in grouped.get("_id", []) for t in _tokens(v)),
        identifiers=tuple(identifiers),
        nhs_numbers=tuple(nhs_numbers),
        statuses=tuple(t for v in grouped.get("status", []) for t in _tokens(v)),
        last_updated=tuple(date_bound(v) for v in grouped.get("_lastUpdated", [])),
        after=_decode_cursor(cursor[-1]) if cursor else None,
        count=_count(grouped["_count"]) if "_count" in grouped else DEFAULT_COUNT,
    )


def openapi_parameters() -> list[dict[str, object]]:
    """Every search and result parameter, for the search route's OpenAPI entry (which ones
    a type takes is in GET /fhir/metadata; the others are refused with 400)."""
    documented: dict[str, str] = {}
    for params in SEARCH_PARAMS.values():
        for param in params:
            name = "patient:identifier" if param.name == "patient" else param.name
            documented.setdefault(name, param.documentation)
    documented["_count"] = f"Page size, 0 to {MAX_COUNT} (default {DEFAULT_COUNT})."
    documented["_cursor"] = "Where the next page starts: taken from a `next` link."
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "string", "maxLength": 500},
        }
        for name, text in documented.items()
    ]
