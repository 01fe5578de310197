"""Liaison's own Task and MedicationRequest as a recommendation moves on. Pure: resources in,
resources out.

The Task Liaison stores "tracks fulfilment": each status word sets `Task.status` (R4 Task
status codes, http://hl7.org/fhir/R4/valueset-task-status.html), `businessStatus` (the
status word itself, coded in Liaison's status CodeSystem) and `lastModified`. The
MedicationRequest (a proposal) changes only when the proposal is over: withdrawn or
declined -> `cancelled`, collected -> `completed` (R4 medicationrequest-status,
http://hl7.org/fhir/R4/valueset-medicationrequest-status.html). What each change sets is
checked before they are handed back (validation.validate_changed): the stored resource
passed the full validation when it was made, and the tests validate every result in full.
"""

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from fhir_profiles import systems
from fhir_profiles.instants import read_datetime
from fhir_profiles.task_status import GP_REPORTED
from fhir_profiles.terminology import display
from fhir_profiles.validation import validate_changed

# Status words only Liaison sets, and the R4 Task.status each means. The words a GP system
# reports keep the Task.status it sets for them (task_status.GP_REPORTED), so Liaison's own
# Task says what a conforming GP system's copy says.
_LIAISON_SET: Final[dict[str, str]] = {
    # Liaison holds the request; the practice has not got it yet.
    "received": "requested",
    "queued": "requested",
    # "A potential performer has claimed ownership of the task and is evaluating whether to
    # perform it" (R4 task-status `received`): the practice's system has the request.
    "delivered": "received",
    "cancelled": "cancelled",
    # "The task was attempted but could not be completed due to some error." An integration
    # engineer's replay can still send it again: the next status word sets the Task again.
    "delivery-failed": "failed",
    # Stopped before anything left: the identity did not match PDS, or PDS names no practice
    # Liaison may send to. Nothing was attempted at a practice, but the task cannot be done.
    "identity-mismatch": "failed",
    "no-usable-practice": "failed",
    # Liaison booked the appointment the practice asked for (GP Connect Appointment
    # Management): the task waits on it as it waited for the appointment to be asked for.
    "appointment-booked": "on-hold",
    "did-not-attend": "on-hold",
    # The practice has seen the service user and is working on the request.
    "attended": "in-progress",
}

TASK_STATUS: Final[dict[str, str]] = {
    **_LIAISON_SET,
    **{word: shape.task_status for word, shape in GP_REPORTED.items()},
}

# The proposal is over only when it was withdrawn, declined or fulfilled; in every other
# status it stays `active` (a failed delivery can be replayed).
MEDICATION_REQUEST_STATUS: Final[dict[str, str]] = {
    "cancelled": "cancelled",
    "rejected": "cancelled",
    "collected": "completed",
}

_REASONS: Final[dict[str, str]] = {
    "rejected": "Rejected by the practice",
    "cancelled": "Cancelled by the practitioner",
    "delivery-failed": "Liaison could not deliver the request within its retry budget",
    "identity-mismatch": "The service user's details did not match the national record (PDS)",
    "no-usable-practice": "The national record (PDS) names no practice Liaison can send to",
}


# The top-level elements each function sets; nothing else of the stored resource changes.
TASK_SETS: Final = ("meta", "status", "businessStatus", "statusReason", "output", "lastModified")
MEDICATION_REQUEST_SETS: Final = ("meta", "status")


def _instant(value: datetime, *, like: str | None) -> str:
    # FHIRPath compares date-times of different precision as unknown, which would break
    # inv-1 (lastModified >= authoredOn): write lastModified to authoredOn's precision.
    timespec = "seconds" if like and "." not in like else "microseconds"
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _text(value: str | None) -> str | None:
    # FHIR strings may not be empty or only white space.
    return value.strip() if value and value.strip() else None


def _without_version(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    # versionId and lastUpdated belong to the stored row; the server sets them when serving.
    return {k: v for k, v in (meta or {}).items() if k not in ("versionId", "lastUpdated")}


def task_at(
    task: Mapping[str, Any],
    status: str,
    *,
    now: datetime,
    detail: str | None = None,
    pharmacy: str | None = None,
) -> dict[str, Any]:
    """`task` as it stands once the recommendation is `status`. `detail` is the practice's
    reason (rejected) or the practitioner's (cancelled); `pharmacy` where the prescription
    went, when known. Raises KeyError for an unknown status word, InvalidResource if what
    it sets breaks a rule."""
    updated = copy.deepcopy(dict(task))
    updated["meta"] = _without_version(updated.get("meta"))
    updated["status"] = TASK_STATUS[status]
    shown = display(systems.LIAISON_STATUS, status) or status
    updated["businessStatus"] = {
        "coding": [{"system": systems.LIAISON_STATUS, "code": status, "display": shown}],
        "text": shown,
    }
    if status in _REASONS:
        reason = _text(detail) if status != "delivery-failed" else None
        updated["statusReason"] = {"text": reason or _REASONS[status]}
    else:
        updated.pop("statusReason", None)
    place = _text(pharmacy)
    if place:
        updated["output"] = [
            {
                "type": {"coding": [{"system": systems.PHARMACY_OUTPUT, "code": "pharmacy"}]},
                "valueString": place,
            }
        ]
    # Task inv-1: lastModified >= authoredOn; another machine's clock may lag the intake's.
    authored_text = updated.get("authoredOn")
    authored = read_datetime(authored_text)
    updated["lastModified"] = _instant(
        max(now, authored) if authored else now,
        like=authored_text if isinstance(authored_text, str) else None,
    )
    # Only what this function set is checked, the rest being the stored Task as it was
    # validated (validation.validate_changed); `detail` and `pharmacy` are the only text
    # from outside. The fixed parts are proven for every status word, with and without
    # them, by tests/fhir_profiles/test_fulfilment.py (full validate_resource).
    validate_changed(updated, TASK_SETS, invariants=("inv-1",))
    return updated


def medication_request_at(
    medication_request: Mapping[str, Any], status: str
) -> dict[str, Any] | None:
    """The MedicationRequest once the recommendation is `status`, or None when its own
    status does not change. Checked as `task_at` checks the Task."""
    wanted = MEDICATION_REQUEST_STATUS.get(status, "active")
    if medication_request.get("status") == wanted:
        return None
    updated = copy.deepcopy(dict(medication_request))
    updated["meta"] = _without_version(updated.get("meta"))
    updated["status"] = wanted
    validate_changed(updated, MEDICATION_REQUEST_SETS)
    return updated
