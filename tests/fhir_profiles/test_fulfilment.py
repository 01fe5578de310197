"""Liaison's own Task and MedicationRequest shapes for each status word: R4 codes only,
valid against Liaison's profiles, and the proposal over only when it really is."""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fhir_profiles import systems
from fhir_profiles.builders import build_resources
from fhir_profiles.fulfilment import (
    MEDICATION_REQUEST_SETS,
    MEDICATION_REQUEST_STATUS,
    TASK_SETS,
    TASK_STATUS,
    medication_request_at,
    task_at,
)
from fhir_profiles.task_status import GP_REPORTED, interpret_task
from fhir_profiles.terminology import expand
from fhir_profiles.validation import InvalidResource, resource_issues, validate_changed
from gateway.domain.lifecycle import STATUSES, TERMINAL
from tests.fhir_profiles.factories import make_facts

# Source: FHIR R4 ValueSet task-status (http://hl7.org/fhir/R4/valueset-task-status.html).
R4_TASK_STATUS = {
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
}
# Source: FHIR R4 ValueSet medicationrequest-status
# (http://hl7.org/fhir/R4/valueset-medicationrequest-status.html).
R4_MEDICATION_REQUEST_STATUS = {
    "active",
    "on-hold",
    "cancelled",
    "completed",
    "entered-in-error",
    "stopped",
    "draft",
    "unknown",
}
NOW = datetime(2026, 9, 8, 12, 0, tzinfo=UTC)


def test_every_status_word_has_an_r4_task_status() -> None:
    assert set(TASK_STATUS) == set(STATUSES)
    assert set(TASK_STATUS.values()) <= R4_TASK_STATUS
    assert set(MEDICATION_REQUEST_STATUS.values()) <= R4_MEDICATION_REQUEST_STATUS
    # The proposal ends only in a status nothing leaves.
    assert set(MEDICATION_REQUEST_STATUS) <= TERMINAL


def test_every_status_word_is_a_business_status_the_profile_allows() -> None:
    allowed = expand(f"{systems.LIAISON_CANONICAL}/ValueSet/fulfilment-business-status")
    assert allowed is not None
    assert {(systems.LIAISON_STATUS, word) for word in STATUSES} <= allowed


@pytest.mark.parametrize("status", STATUSES)
def test_the_task_for_each_status_is_valid_and_reads_back_the_same(status: str) -> None:
    built = build_resources(make_facts())
    task = task_at(built.task, status, now=NOW + timedelta(days=1), detail="  ", pharmacy="")
    assert resource_issues(task) == []
    assert task["status"] == TASK_STATUS[status]
    assert "versionId" not in task["meta"]
    report = interpret_task(task)
    if status in GP_REPORTED:
        # What a poll of a GP system's Task would read, Liaison's own Task says too.
        assert report is not None
        assert report.status == status
    medication_request = medication_request_at(built.medication_request, status)
    if status in MEDICATION_REQUEST_STATUS:
        assert medication_request is not None
        assert medication_request["status"] == MEDICATION_REQUEST_STATUS[status]
        assert resource_issues(medication_request) == []
    else:
        assert medication_request is None  # unchanged: no new version


def test_last_modified_never_precedes_authored_on() -> None:
    built = build_resources(make_facts())
    authored = datetime.fromisoformat(built.task["authoredOn"])
    lagging = authored - timedelta(seconds=2)  # another machine's clock, a little behind
    task = task_at(built.task, "delivered", now=lagging)
    assert datetime.fromisoformat(task["lastModified"]) == authored
    assert resource_issues(task) == []


def test_a_known_pharmacy_stays_on_the_task_after_later_steps() -> None:
    built = build_resources(make_facts())
    ready = task_at(built.task, "ready-to-collect", now=NOW, pharmacy="Boots, 1 High Street")
    collected = task_at(ready, "collected", now=NOW)
    assert collected["output"] == ready["output"]
    assert collected["output"][0]["valueString"] == "Boots, 1 High Street"


@pytest.mark.parametrize("authored_on", ["2026-08-27T09:00:00+00:00", "2026-08-27T09:00:00.5Z"])
def test_last_modified_is_comparable_with_authored_on_whatever_its_precision(
    authored_on: str,
) -> None:
    # FHIRPath compares instants of different precision as unknown (inv-1 would fail).
    built = build_resources(make_facts())
    task = {**built.task, "authoredOn": authored_on}
    later = datetime(2026, 8, 27, 9, 0, 0, 665265, tzinfo=UTC)
    assert resource_issues(task_at(task, "delivered", now=later)) == []


def _starting_tasks() -> dict[str, dict[str, Any]]:
    # A Task as intake stores it, and Tasks that earlier steps gave a reason or an output.
    built = build_resources(make_facts()).task
    return {
        "built": built,
        "with-output": task_at(built, "ready-to-collect", now=NOW, pharmacy="Boots, Market St"),
        "with-reason": task_at(built, "rejected", now=NOW, detail="Not clinically suitable"),
    }


@pytest.mark.parametrize("start", ["built", "with-output", "with-reason"])
@pytest.mark.parametrize("pharmacy", [None, "Boots, 1 High Street"])
@pytest.mark.parametrize("detail", [None, "Out of stock: the practice will try again"])
@pytest.mark.parametrize("status", STATUSES)
def test_every_task_task_at_can_make_passes_the_full_validation(
    status: str, detail: str | None, pharmacy: str | None, start: str
) -> None:
    # task_at checks only what it sets (validation.validate_changed); this proves that the
    # parts it fixes are valid for every status word, with and without the outside text.
    before = _starting_tasks()[start]
    task = task_at(before, status, now=NOW + timedelta(days=1), detail=detail, pharmacy=pharmacy)
    assert resource_issues(task) == []
    # Nothing outside what it sets changes, so the rest is the stored, validated Task.
    assert {k: v for k, v in task.items() if k not in TASK_SETS} == {
        k: v for k, v in before.items() if k not in TASK_SETS
    }
    if detail and status in ("rejected", "cancelled"):
        assert task["statusReason"] == {"text": detail}
    if pharmacy:
        assert task["output"][0]["valueString"] == pharmacy


@pytest.mark.parametrize("status", sorted(MEDICATION_REQUEST_STATUS))
def test_a_changed_medication_request_changes_only_what_is_checked(status: str) -> None:
    before = build_resources(make_facts()).medication_request
    changed = medication_request_at(before, status)
    assert changed is not None
    assert {k: v for k, v in changed.items() if k not in MEDICATION_REQUEST_SETS} == {
        k: v for k, v in before.items() if k not in MEDICATION_REQUEST_SETS
    }


def test_task_at_leaves_the_version_it_replaces_as_it_was() -> None:
    built = build_resources(make_facts()).task
    kept = copy.deepcopy(built)
    task = task_at(built, "collected", now=NOW, pharmacy="Boots")
    task["for"]["display"] = "changed afterwards"
    assert built == kept  # history keeps the replaced body: nothing may be shared


def test_the_changed_parts_are_checked() -> None:
    task = task_at(build_resources(make_facts()).task, "rejected", now=NOW, detail="No")
    with pytest.raises(InvalidResource, match="inv-1"):
        validate_changed(
            {**task, "lastModified": "2000-01-01T00:00:00Z"}, TASK_SETS, invariants=("inv-1",)
        )
    with pytest.raises(InvalidResource) as refused:
        validate_changed(
            {**task, "statusReason": {"text": " "}, "output": [{"valueString": 3}]}, TASK_SETS
        )
    assert {issue.path for issue in refused.value.issues} >= {
        "Task.statusReason.text",
        "Task.output[0].valueString",
    }
    with pytest.raises(InvalidResource):
        validate_changed({**task, "status": "no-such-status"}, TASK_SETS)  # required binding
    with pytest.raises(KeyError):
        task_at(task, "no-such-word", now=NOW)
