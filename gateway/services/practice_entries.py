"""Writing a practice's directory entry for an ops client: who may change what, and which
endpoints Liaison will call. The same rule for every edge that writes an entry on a client's
behalf, so none can skip it.

The `ops` scope may change only the operational fields (rate limit, in-flight limit,
chase-up days, timeout); changing where a practice's requests go or with which credentials
(adapter, `base_url`, `auth`, `mailbox`, ...) also needs `practice-admin`, which no client
holds by default. Otherwise an ops client could point a practice at a host of its choosing
and receive patients' data and credentials.
"""

from collections.abc import Collection
from datetime import datetime

from gateway.domain.errors import ErrorKind, FieldError, LiaisonError
from gateway.practice_directory import (
    OPERATIONAL_FIELDS,
    PracticeSettings,
    connection_changes,
    endpoint_problems,
    settings_of,
    write_practice,
)
from gateway.security.scopes import PRACTICE_ADMIN_SCOPE
from gateway.services import practice_overview
from gateway.services.practice_overview import PracticeView
from gateway.settings import Settings
from gateway.store.ports import PracticeEntryPort


class NeedsPracticeAdmin(LiaisonError):
    """A connection field changed by a client without the practice-admin scope."""

    kind = ErrorKind.FORBIDDEN

    def __init__(self, changed: list[str]) -> None:
        operational = ", ".join(sorted(OPERATIONAL_FIELDS))
        super().__init__(
            f"changing {', '.join(changed)} needs the {PRACTICE_ADMIN_SCOPE!r} scope: a "
            "practice's adapter, endpoint and credentials are changed from a shell (`liaison "
            "practices set`, the directory YAML) or by a practice-admin client; the ops scope "
            f"may change only {operational}"
        )
        self.changed = changed

    @property
    def errors(self) -> list[FieldError]:
        return [
            FieldError(field, f"{field}: needs the {PRACTICE_ADMIN_SCOPE!r} scope")
            for field in self.changed
        ]


class UncallableEndpoint(LiaisonError):
    """An endpoint of the entry Liaison will not call (plain http in production, a host
    outside the allowed ones), each named with why."""

    kind = ErrorKind.INVALID

    def __init__(self, refused: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {why}" for field, why in refused))
        self.refused = refused

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(field, f"{field}: {why}") for field, why in self.refused]


def put_entry(
    uow: PracticeEntryPort,
    ods_code: str,
    entry: PracticeSettings,
    *,
    settings: Settings,
    scopes: Collection[str],
    now: datetime,
) -> tuple[PracticeView, bool]:
    """Create or replace the entry, keeping its runtime state, and commit: the practice as
    it now stands, and whether it was created."""
    existing = uow.practices.get(ods_code)
    changed = connection_changes(settings_of(existing) if existing else None, entry)
    if changed and PRACTICE_ADMIN_SCOPE not in scopes:
        raise NeedsPracticeAdmin(changed)
    refused = endpoint_problems(entry, settings)
    if refused:
        raise UncallableEndpoint(refused)
    practice, created = write_practice(uow, ods_code, entry, source="api")
    uow.commit()
    return practice_overview.view_of(uow, practice, now=now), created
