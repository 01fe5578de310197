"""Where a recommendation goes: the practice PDS registers the service user with, in the state
ODS gives it. Pure rules; the worker (workers.resolving) asks PDS and ODS and applies them.

- The identity must match: an NHS number PDS does not know, or a birth date that differs from
  PDS's, stops the recommendation before anything leaves (`identity-mismatch`): the
  practitioner's record is wrong, and nothing is sent about the wrong person.
- PDS names the practice. When the practitioner gave another ODS code, PDS wins and the
  correction is said (timeline, API, the practitioner's email).
- No usable practice (`no-usable-practice`): a deceased patient, a restricted record whose
  practice PDS withholds, no current registration, a practice ODS shows closed with no
  successor, or one Liaison cannot reach (not in its practice directory).
- A closed practice is never sent a new request: its ODS successor is (followed a few hops,
  as practices merge more than once).

Reasons name ODS codes and what happened, never an NHS number, a name or a birth date.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Final

IDENTITY_MISMATCH: Final = "identity-mismatch"
NO_USABLE_PRACTICE: Final = "no-usable-practice"
MAX_SUCCESSIONS: Final = 3


@dataclass(frozen=True)
class PatientFacts:
    """What PDS said about the NHS number (None `unknown_reason`: PDS has a record)."""

    unknown_reason: str | None = None
    birth_date: date | None = None
    deceased: bool = False
    restricted: bool = False
    practice: str | None = None
    practice_note: str | None = None
    superseded: bool = False


@dataclass(frozen=True)
class PracticeFacts:
    """What ODS says of an organisation."""

    ods_code: str
    active: bool
    name: str | None = None
    telephone: str | None = None
    successor: str | None = None


@dataclass(frozen=True)
class Stopped:
    status: str  # IDENTITY_MISMATCH | NO_USABLE_PRACTICE
    reason: str


@dataclass(frozen=True)
class Routed:
    ods_code: str
    practice: PracticeFacts | None  # None when ODS is not consulted
    corrected: bool  # the practitioner gave another practice
    notes: tuple[str, ...] = field(default=())


def check_identity(patient: PatientFacts, *, given_birth_date: date | None) -> Stopped | None:
    if patient.unknown_reason is not None:
        return Stopped(IDENTITY_MISMATCH, f"{patient.unknown_reason}: check the NHS number")
    if (
        given_birth_date is not None
        and patient.birth_date is not None
        and given_birth_date != patient.birth_date
    ):
        return Stopped(
            IDENTITY_MISMATCH,
            "the birth date given does not match PDS's record for this NHS number: nothing "
            "was sent; check the service user's details",
        )
    return None


def registered_practice(patient: PatientFacts) -> str | Stopped:
    if patient.deceased:
        return Stopped(NO_USABLE_PRACTICE, "PDS records the service user as deceased")
    if patient.practice is None:
        if patient.restricted:
            return Stopped(
                NO_USABLE_PRACTICE,
                "the service user's PDS record is restricted: PDS withholds the registered "
                "practice, so Liaison cannot send the request; contact the practice directly",
            )
        note = patient.practice_note or "PDS names no registered practice"
        return Stopped(NO_USABLE_PRACTICE, note)
    return patient.practice


def follow_successors(
    ods_code: str, lookup: Callable[[str], PracticeFacts | None]
) -> tuple[PracticeFacts, tuple[str, ...]] | Stopped:
    """The open practice `ods_code` is, or was succeeded by. `lookup` asks ODS (it may raise:
    an unreachable ODS is the caller's to wait for)."""
    notes: list[str] = []
    current = ods_code
    for _ in range(MAX_SUCCESSIONS + 1):
        found = lookup(current)
        if found is None:
            return Stopped(NO_USABLE_PRACTICE, f"ODS has no organisation {current}")
        if found.active:
            return found, tuple(notes)
        if found.successor is None:
            return Stopped(
                NO_USABLE_PRACTICE,
                f"ODS shows practice {current} as closed and names no successor",
            )
        notes.append(
            f"ODS shows practice {current} as closed; its successor {found.successor} is used"
        )
        current = found.successor
    return Stopped(NO_USABLE_PRACTICE, f"practice {ods_code} was succeeded too many times")


def route(
    patient: PatientFacts,
    *,
    given_ods: str | None,
    given_birth_date: date | None,
    lookup: Callable[[str], PracticeFacts | None] | None,
    in_directory: Callable[[str], bool],
) -> Routed | Stopped:
    """Apply every rule above. `lookup` None: ODS is not consulted."""
    stopped = check_identity(patient, given_birth_date=given_birth_date)
    if stopped is not None:
        return stopped
    registered = registered_practice(patient)
    if isinstance(registered, Stopped):
        return registered
    notes: list[str] = []
    if patient.superseded:
        notes.append("PDS has replaced the NHS number given: the current one is used")
    if patient.practice_note:
        notes.append(patient.practice_note)
    corrected = given_ods is not None and given_ods != registered
    if corrected:
        notes.append(
            f"PDS registers the service user at {registered}, not {given_ods} as given: "
            f"the request goes to {registered}"
        )
    practice: PracticeFacts | None = None
    target = registered
    if lookup is not None:
        followed = follow_successors(registered, lookup)
        if isinstance(followed, Stopped):
            return followed
        practice, succession = followed
        target = practice.ods_code
        notes += succession
    if not in_directory(target):
        return Stopped(
            NO_USABLE_PRACTICE,
            f"practice {target} is not in Liaison's practice directory: Liaison has no route "
            f"to it; contact the practice directly",
        )
    return Routed(target, practice, given_ods is not None and target != given_ods, tuple(notes))


def changed_practice(current: str | None, routed: Routed) -> bool:
    """A chase-up's fresh look found the service user registered elsewhere."""
    return current is not None and routed.ods_code != current
