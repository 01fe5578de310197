"""Task search parameters and paging.

Pages are cut from a snapshot: the page token carries the instant the first page
was computed. Tasks keep moving through their scripts while a client pages, and
offsets over a live ordering would skip a Task whenever an earlier one moved to
the end; a snapshot keeps every page consistent with the first.
"""

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from adapters.standins.gp_simulator.store import FhirError
from fhir_profiles.instants import read_datetime_as_utc

DEFAULT_COUNT: Final = 50
MAX_COUNT: Final = 500
_COMPARISONS: Final[dict[str, Callable[[datetime, datetime], bool]]] = {
    "gt": lambda seen, bound: seen > bound,
    "ge": lambda seen, bound: seen >= bound,
    "lt": lambda seen, bound: seen < bound,
    "le": lambda seen, bound: seen <= bound,
    "eq": lambda seen, bound: seen == bound,
}


@dataclass(frozen=True)
class TaskQuery:
    owner_system: str | None
    owner_value: str | None
    last_updated: tuple[tuple[str, datetime], ...]
    count: int
    snapshot: datetime | None  # None on the first page
    offset: int


def practice_of(owner: str | None) -> str | None:
    """The ODS code an `owner` parameter (`system|value` or `value`) names."""
    return (owner.split("|", 1)[-1] or None) if owner else None


def parse_query(params: Mapping[str, str], last_updated: Sequence[str]) -> TaskQuery:
    owner = params.get("owner")
    owner_system = (owner.split("|", 1)[0] or None) if owner and "|" in owner else None
    sort = params.get("_sort", "_lastUpdated")
    if sort != "_lastUpdated":
        raise FhirError(400, "not-supported", f"_sort={sort} is not supported; use _lastUpdated")
    snapshot, offset = _page_token(params["_page"]) if "_page" in params else (None, 0)
    return TaskQuery(
        owner_system=owner_system,
        owner_value=practice_of(owner),
        last_updated=tuple(_comparison(value) for value in last_updated),
        count=_count(params.get("_count")),
        snapshot=snapshot,
        offset=offset,
    )


def matching(tasks: list[dict[str, Any]], query: TaskQuery) -> list[dict[str, Any]]:
    """The Tasks the query selects, oldest change first."""
    selected = [task for task in tasks if _owner_matches(task, query) and _changed_in(task, query)]
    return sorted(selected, key=lambda task: (_last_updated(task), str(task.get("id"))))


def searchset(found: list[dict[str, Any]], url: str, base: str) -> dict[str, Any]:
    """One page holding every match (searches by identifier match a handful at most)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": url}],
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in found
        ],
    }


def page_token(snapshot: datetime, offset: int) -> str:
    raw = f"{snapshot.isoformat()}|{offset}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _page_token(token: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, offset = raw.split("|", 1)
        return datetime.fromisoformat(moment), max(int(offset), 0)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise FhirError(400, "invalid", "unknown _page token") from error


def _count(value: str | None) -> int:
    if value is None:
        return DEFAULT_COUNT
    try:
        return min(max(int(value), 0), MAX_COUNT)
    except ValueError as error:
        raise FhirError(400, "invalid", f"_count={value} is not a number") from error


def _comparison(value: str) -> tuple[str, datetime]:
    prefix = value[:2] if value[:2] in _COMPARISONS else "eq"
    text = value[2:] if value[:2] in _COMPARISONS else value
    # An unencoded "+" in an offset arrives as a space; take it back.
    moment = read_datetime_as_utc(text.replace(" ", "+"))
    if moment is None:
        raise FhirError(400, "invalid", f"_lastUpdated={value} is not an instant")
    return prefix, moment


def _last_updated(task: dict[str, Any]) -> datetime:
    moment = read_datetime_as_utc(str(task.get("meta", {}).get("lastUpdated", "")))
    return moment or datetime.min.replace(tzinfo=UTC)


def _owner_matches(task: dict[str, Any], query: TaskQuery) -> bool:
    if query.owner_value is None:
        return True
    identifier = (task.get("owner") or {}).get("identifier") or {}
    if query.owner_system is not None and identifier.get("system") != query.owner_system:
        return False
    return bool(identifier.get("value") == query.owner_value)


def _changed_in(task: dict[str, Any], query: TaskQuery) -> bool:
    seen = _last_updated(task)
    return all(_COMPARISONS[prefix](seen, bound) for prefix, bound in query.last_updated)
