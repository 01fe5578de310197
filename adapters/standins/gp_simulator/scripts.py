"""What each pretend practice does with a request, and when.

A practice's behaviour is keyed by its ODS code so tests and demos can pick an
outcome by choosing where to send. Progress is computed from the clock at read
time rather than by a background job, so a fake clock can step through a script.
"""

from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from fhir_profiles.task_status import task_fields_for

PHARMACY: Final = "Boots, 1 High Street"
REJECTION_REASON: Final = (
    "Please ask the patient to book a smoking review with the practice nurse first"
)
DOWN: Final = "Y00004"  # every call answers 503
FLAKY: Final = "Y00005"  # every second call answers 500


@dataclass(frozen=True)
class Step:
    status: str  # a status word from fhir_profiles.task_status.GP_REPORTED
    detail: str | None = None
    pharmacy: str | None = None


PRESCRIBES: Final = (
    Step("accepted"),
    Step("prescription-issued", pharmacy=PHARMACY),
    Step("ready-to-collect", pharmacy=PHARMACY),
    Step("collected", pharmacy=PHARMACY),
)
# A step in which the practice does nothing yet (a slow practice).
WAIT: Final = Step("")
SCRIPTS: Final[dict[str, tuple[Step, ...]]] = {
    "Y00001": PRESCRIBES,
    "Y00002": (Step("rejected", detail=REJECTION_REASON),),
    "Y00003": (Step("appointment-needed"),),
    # Ready, but never collected (collection reminders).
    "Y00006": PRESCRIBES[:3],
    # Never acts (chase-ups until the limit).
    "Y00007": (),
    # Acts only after four steps of silence (a chase-up that then stops).
    "Y00008": (WAIT, WAIT, WAIT, WAIT, *PRESCRIBES),
}


def script_for(ods_code: str | None) -> tuple[Step, ...]:
    return SCRIPTS.get(ods_code or "", PRESCRIBES)


def fault_for(ods_code: str | None, call_number: int) -> int | None:
    """The HTTP status this practice's endpoint fails its `call_number`-th call with
    (counting from 1), or None when it answers normally."""
    if ods_code == DOWN:
        return 503
    if ods_code == FLAKY and call_number % 2 == 0:
        return 500
    return None


def instant(moment: datetime) -> str:
    # Fixed microsecond precision keeps instants sortable as text, as clients may compare them.
    return moment.isoformat(timespec="microseconds")


def task_as_of(
    task: dict[str, Any],
    *,
    created_at: datetime,
    now: datetime,
    step_seconds: float,
    script: tuple[Step, ...],
) -> dict[str, Any]:
    """The Task as the practice has left it by `now`: step k applies from
    `created_at + k * step_seconds`; before step 1 it is as it was sent."""
    step_length = timedelta(seconds=step_seconds)
    reached = min(max((now - created_at) // step_length, 0), len(script))
    rendered = deepcopy(task)
    acted = [step for step in script[:reached] if step != WAIT]
    if acted:
        step = acted[-1]
        rendered.update(task_fields_for(step.status, detail=step.detail, pharmacy=step.pharmacy))
    rendered["meta"] = {
        **rendered.get("meta", {}),
        "versionId": str(reached + 1),
        "lastUpdated": instant(created_at + reached * step_length),
    }
    return rendered
