"""The validator enforces what the StructureDefinitions say. The tests read the shipped JSON
(fhir_profiles/definitions), not a copy, and break each rule it states."""

import copy
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import pytest

from fhir_profiles import systems
from fhir_profiles.builders import ResourceSet, build_resources, build_transaction_bundle
from fhir_profiles.issues import InvalidResource, Issue
from fhir_profiles.validation import resource_issues, validate_all, validate_resource
from tests.fhir_profiles.factories import make_facts

Resource = dict[str, Any]


def _definition(name: str) -> Resource:
    folder = resources.files("fhir_profiles.definitions")
    loaded: Resource = json.loads((folder / f"StructureDefinition-{name}.json").read_text())
    return loaded


def _elements(*names: str) -> list[Resource]:
    return [e for name in names for e in _definition(name)["differential"]["element"]]


@cache
def _built() -> ResourceSet:
    return build_resources(make_facts(current_medications=("Clozapine 300mg daily",)))


def _resources() -> ResourceSet:
    """A fresh copy each time: tests change what they get."""
    return copy.deepcopy(_built())


def _issues(resource: Resource, **kwargs: Any) -> list[Issue]:
    with pytest.raises(InvalidResource) as caught:
        validate_resource(resource, **kwargs)
    return caught.value.issues


def _paths(resource: Resource) -> set[str]:
    return {issue.path for issue in _issues(resource)}


def test_built_resources_are_valid() -> None:
    validate_all(_resources().all())


# --- driven by the StructureDefinitions ------------------------------------------------

_RESOURCE_OF = {
    "Liaison-MedicationRequest-Recommendation": "medication_request",
    "Liaison-MedicationRequest-Submission": "medication_request",
    "Liaison-CommunicationRequest-PrescribingRequest": "communication_request",
    "Liaison-Task-Fulfilment": "task",
    "Liaison-DetectedIssue-SmokingCessationInteraction": "detected_issue",
    "Liaison-Patient-ServiceUser": "patient",
}


def _slice_match(element_id: str, elements: dict[str, Resource]) -> Callable[[Any], bool]:
    """Whether a JSON item belongs to the slice `element_id` (url or system discriminator)."""
    element = elements[element_id]
    profiles = [p for t in element.get("type", []) for p in t.get("profile", [])]
    if profiles:
        return lambda item: isinstance(item, dict) and item.get("url") == profiles[0]
    for child in ("url", "system"):
        fixed = elements.get(f"{element_id}.{child}", {})
        value = fixed.get("fixedUri")
        if value is not None:
            return lambda item, c=child, v=value: isinstance(item, dict) and item.get(c) == v
    pattern = elements[f"{element_id}.type"]["patternCodeableConcept"]
    return lambda item: isinstance(item, dict) and item.get("type") == pattern


def _locate(
    resource: Resource, element_id: str, elements: dict[str, Resource]
) -> list[tuple[dict[str, Any], str]]:
    """(parent JSON object, key) pairs holding the element, following slices and choices."""
    parts = element_id.split(".")
    parents: list[Any] = [resource]
    prefix = parts[0]
    for depth, part in enumerate(parts[1:], start=1):
        name, _, slice_name = part.partition(":")
        prefix += f".{part}"
        found: list[tuple[dict[str, Any], str]] = []
        for parent in parents:
            if not isinstance(parent, dict):
                continue
            if name.endswith("[x]"):
                keys = [
                    k
                    for k in parent
                    if k.startswith(name[:-3]) and k[len(name) - 3 :][:1].isupper()
                ]
            else:
                keys = [name] if name in parent else []
            found += [(parent, key) for key in keys]
        if depth == len(parts) - 1:
            return found
        step: list[Any] = []
        for parent, key in found:
            values = parent[key] if isinstance(parent[key], list) else [parent[key]]
            if slice_name:
                values = [v for v in values if _slice_match(prefix, elements)(v)]
            step += values
        parents = step
    return []


def _remove(resource: Resource, element_id: str, elements: dict[str, Resource]) -> bool:
    last = element_id.split(".")[-1]
    slice_name = last.partition(":")[2]
    removed = False
    for parent, key in _locate(resource, element_id, elements):
        if slice_name and isinstance(parent[key], list):
            keep = [v for v in parent[key] if not _slice_match(element_id, elements)(v)]
            removed = removed or len(keep) != len(parent[key])
            if keep:
                parent[key] = keep
            else:
                del parent[key]
        else:
            del parent[key]
            removed = True
    return removed


def _required(profile: str) -> list[str]:
    chain = [profile]
    return sorted(
        {
            e["id"]
            for e in _elements(*chain)
            if e.get("min", 0) >= 1 and "." in e["id"] and not e["id"].endswith(".url")
        }
    )


_REQUIRED_CASES = [
    (profile, element_id)
    for profile in _RESOURCE_OF
    if profile != "Liaison-MedicationRequest-Submission"
    for element_id in _required(profile)
]


@pytest.mark.parametrize(("profile", "element_id"), _REQUIRED_CASES)
def test_removing_an_element_the_profile_requires_is_refused(profile: str, element_id: str) -> None:
    elements = {e["id"]: e for e in _elements(profile)}
    resource = copy.deepcopy(getattr(_resources(), _RESOURCE_OF[profile]))
    if not _remove(resource, element_id, elements):
        pytest.skip(f"{element_id} sits under an optional parent this resource does not have")
    assert resource_issues(resource), f"removing {element_id} went unnoticed"


def _fixed_cases() -> list[tuple[str, str, str, Any]]:
    cases = []
    for profile in (
        "Liaison-MedicationRequest-Recommendation",
        "Liaison-Task-Fulfilment",
        "Liaison-CommunicationRequest-PrescribingRequest",
        "Liaison-DetectedIssue-SmokingCessationInteraction",
    ):
        for e in _elements(profile):
            for key, value in e.items():
                # A slice's url/system/type says which items belong to it: changing one moves
                # the item out of the slice rather than breaking a rule.
                discriminator = e["id"].endswith((".url", ".system")) or (
                    ":" in e["id"] and e["id"].endswith(".type")
                )
                if key.startswith(("fixed", "pattern")) and not discriminator:
                    cases.append((profile, e["id"], key, value))
    return cases


@pytest.mark.parametrize(("profile", "element_id", "kind", "value"), _fixed_cases())
def test_changing_a_fixed_or_pattern_value_is_refused(
    profile: str, element_id: str, kind: str, value: Any
) -> None:
    elements = {e["id"]: e for e in _elements(profile, "Liaison-MedicationRequest-Submission")}
    resource = copy.deepcopy(getattr(_resources(), _RESOURCE_OF[profile]))
    located = _locate(resource, element_id, elements)
    assert located, f"the built resource has no {element_id}"
    for parent, key in located:
        current = parent[key]
        other: Any = "something-else" if isinstance(current, str) else {"text": "something else"}
        if isinstance(current, list):
            other = [other]
        parent[key] = other
    assert resource_issues(resource), f"changing {element_id} ({kind}) went unnoticed"


# Every invariant the definitions state, with one change that breaks it.
def _mr(change: Callable[[Resource], None]) -> Resource:
    resource = copy.deepcopy(_resources().medication_request)
    change(resource)
    return resource


def _submission(change: Callable[[Resource], None] = lambda r: None) -> Resource:
    """A submission as a caller sends it: the service user and practitioner contained."""
    built = _resources()
    resource = copy.deepcopy(built.medication_request)
    patient = {k: v for k, v in (built.patient or {}).items() if k not in ("meta", "text")}
    practitioner = {
        k: v for k, v in (built.practitioner or {}).items() if k not in ("meta", "text")
    }
    resource["contained"] = [{**patient, "id": "p"}, {**practitioner, "id": "pr"}]
    resource["meta"] = {"profile": [systems.PROFILE_MEDICATION_REQUEST_SUBMISSION]}
    resource["subject"] = {**resource["subject"], "reference": "#p"}
    resource["requester"] = {**resource["requester"], "reference": "#pr"}
    resource.pop("detectedIssue", None)  # the flag is Liaison's to raise, not the submitter's
    change(resource)
    return resource


def _contained(resource: Resource, kind: str) -> Resource:
    found: Resource = next(c for c in resource["contained"] if c["resourceType"] == kind)
    return found


def _ext(resource: Resource, url: str) -> Resource:
    found: Resource = next(e for e in resource["extension"] if e["url"] == url)
    return found


_BREAKS: dict[str, Callable[[], Resource]] = {
    "lia-mr-1": lambda: _submission(lambda r: r["subject"].update(reference="#someone-else")),
    "lia-mr-2": lambda: _submission(lambda r: _contained(r, "Patient")["name"][0].pop("family")),
    "lia-mr-3": lambda: _submission(
        lambda r: _contained(r, "Patient")["identifier"][0].update(value="9876543210")
    ),
    "lia-mr-4": lambda: _submission(
        lambda r: _contained(r, "Patient")["generalPractitioner"][0]["identifier"].update(
            value="not ods"
        )
    ),
    "lia-mr-5": lambda: _submission(lambda r: _contained(r, "Practitioner").pop("telecom")),
    "lia-mr-6": lambda: _mr(
        lambda r: r["dispenseRequest"]["expectedSupplyDuration"].update(code="wk")
    ),
    "lia-pat-1": lambda: {
        **(_resources().patient or {}),
        "telecom": [{"system": "phone", "value": "07700900123"}],
    },
    # A proposal is over as cancelled or completed, never "stopped" (nothing was given).
    "lia-rec-2": lambda: _mr(lambda r: r.update(status="stopped")),
    "lia-nhs-1": lambda: _mr(lambda r: r["subject"]["identifier"].update(value="9434765918")),
    "lia-ods-1": lambda: {
        **_resources().task,
        "owner": {"identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": "a81001"}},
    },
    "lia-cr-1": lambda: {
        **_resources().communication_request,
        "payload": [{"contentReference": {"reference": "MedicationRequest/x"}}] * 2,
    },
    "lia-di-1": lambda: {
        **_resources().detected_issue,  # type: ignore[dict-item]
        "implicated": [{"display": "Clozapine"}, {"display": "Olanzapine"}],
    },
    "lia-ctc-1": lambda: _mr(
        lambda r: _ext(r, systems.EXT_CARE_TEAM_CONTACT)["extension"][1]["valueContactDetail"].pop(
            "telecom"
        )
    ),
    "lia-cm-1": lambda: _mr(
        lambda r: _ext(r, systems.EXT_CURRENT_MEDICATION)["valueCodeableConcept"].update(
            coding=[{"system": "http://example.org/drugs", "code": "123456"}]
        )
    ),
}


def _all_constraint_keys() -> set[str]:
    folder = resources.files("fhir_profiles.definitions")
    keys = set()
    for entry in folder.iterdir():
        if entry.name.startswith("StructureDefinition-"):
            for e in json.loads(entry.read_text())["differential"]["element"]:
                keys |= {c["key"] for c in e.get("constraint", [])}
    return keys


def test_every_invariant_in_the_definitions_has_a_breaking_case() -> None:
    assert set(_BREAKS) == _all_constraint_keys()


@pytest.mark.parametrize("key", sorted(_BREAKS))
def test_each_invariant_refuses_what_breaks_it(key: str) -> None:
    messages = [issue.message for issue in resource_issues(_BREAKS[key]())]
    assert any(message.startswith(f"{key}:") for message in messages), messages


def test_required_bindings_refuse_codes_outside_their_value_sets() -> None:
    mr = _resources().medication_request
    bad_product = copy.deepcopy(mr)
    bad_product["medicationCodeableConcept"]["coding"][0]["code"] = "cigarettes"
    assert "MedicationRequest.medicationCodeableConcept" in _paths(bad_product)
    bad_plan = copy.deepcopy(mr)
    _ext(bad_plan, systems.EXT_CESSATION_PLAN)["valueCode"] = "vape-more"
    assert any("valueCode" in p for p in _paths(bad_plan))
    bad_role = copy.deepcopy(mr)
    _ext(bad_role, systems.EXT_CARE_TEAM_CONTACT)["extension"][0]["valueCode"] = "friend"
    assert any("valueCode" in p for p in _paths(bad_role))


# --- MedicationRequest -----------------------------------------------------------------


def test_medication_request_with_intent_order_fails() -> None:
    mr = {**_resources().medication_request, "intent": "order"}
    issues = _issues(mr)
    assert [issue.path for issue in issues] == ["MedicationRequest.intent"]
    assert "proposal" in issues[0].message


def test_a_missing_extension_is_named_by_its_url() -> None:
    mr = copy.deepcopy(_resources().medication_request)
    mr["extension"] = [e for e in mr["extension"] if e["url"] != systems.EXT_CONSENT]
    assert f"MedicationRequest.extension('{systems.EXT_CONSENT}')" in _paths(mr)


def test_consent_to_share_must_be_true() -> None:
    mr = copy.deepcopy(_resources().medication_request)
    _ext(mr, systems.EXT_CONSENT)["extension"][0]["valueBoolean"] = False
    (issue,) = _issues(mr)
    assert issue.path == "MedicationRequest.extension[0].extension[0].valueBoolean"


def test_an_unknown_liaison_extension_is_refused() -> None:
    mr = copy.deepcopy(_resources().medication_request)
    mr["extension"].append(
        {"url": f"{systems.LIAISON_CANONICAL}/StructureDefinition/nope", "valueString": "x"}
    )
    assert any(p.endswith(".url") for p in _paths(mr))


def test_subject_nhs_number_system_and_check_digit() -> None:
    mr = copy.deepcopy(_resources().medication_request)
    mr["subject"]["identifier"]["system"] = "urn:oid:1.2.3"
    assert "MedicationRequest.subject.identifier.system" in _paths(mr)
    mr = copy.deepcopy(_resources().medication_request)
    mr["subject"]["identifier"]["value"] = "9434765918"
    assert "MedicationRequest.subject.identifier" in _paths(mr)


def test_the_recommendation_identifier_is_required_on_what_liaison_emits() -> None:
    unflagged = build_resources(make_facts()).medication_request
    mr = {**unflagged, "identifier": [{"system": "urn:x", "value": "1"}]}
    assert f"MedicationRequest.identifier.where(system = '{systems.RECOMMENDATION_ID}')" in _paths(
        mr
    )
    # ...while a submission cannot know it yet.
    submission = _submission(lambda r: r.update(identifier=[{"system": "urn:x", "value": "1"}]))
    assert resource_issues(submission) == []


def test_structural_errors_name_a_dotted_path() -> None:
    mr = copy.deepcopy(_resources().medication_request)
    mr["dosageInstruction"] = [{"text": 12}]
    mr["authoredOn"] = "yesterday"
    assert {
        "MedicationRequest.dosageInstruction[0].text",
        "MedicationRequest.authoredOn",
    } <= _paths(mr)


def test_unknown_element_is_reported() -> None:
    mr = {**_resources().medication_request, "colour": "blue"}
    assert "MedicationRequest.colour" in _paths(mr)


def test_a_resource_without_a_liaison_profile_is_refused() -> None:
    task = {**_resources().task, "meta": {"profile": [systems.UKCORE_TASK]}}
    assert _paths(task) == {"Task.meta.profile"}


def test_base_r4_bindings_and_invariants_apply_too() -> None:
    task = {**_resources().task, "priority": "whenever", "lastModified": "2025-01-01T00:00:00Z"}
    messages = {issue.path: issue.message for issue in _issues(task)}
    assert "request-priority" in messages["Task.priority"]
    assert messages["Task"].startswith("inv-1:")


def test_a_contained_resource_nothing_refers_to_is_refused() -> None:
    mr = _submission()
    mr["contained"].append({"resourceType": "Organization", "id": "stray", "name": "Stray"})
    paths = _paths(mr)
    assert "MedicationRequest.contained[2]" in paths


def test_what_liaison_sends_contains_no_patient_or_practitioner() -> None:
    mr = _submission(lambda r: r.update(meta={"profile": [systems.PROFILE_MEDICATION_REQUEST]}))
    assert any(path.startswith("MedicationRequest.contained") for path in _paths(mr))


# --- CommunicationRequest, Task, DetectedIssue, Bundle ----------------------------------


def test_communication_request_needs_an_ods_recipient() -> None:
    cr = copy.deepcopy(_resources().communication_request)
    del cr["recipient"]
    assert "CommunicationRequest.recipient" in _paths(cr)
    cr["recipient"] = [{"identifier": {"system": "urn:other", "value": "B82001"}}]
    assert "CommunicationRequest.recipient[0].identifier.system" in _paths(cr)


def test_task_needs_an_ods_owner_and_a_focus() -> None:
    task = copy.deepcopy(_resources().task)
    del task["owner"]
    del task["focus"]
    assert {"Task.owner", "Task.focus"} <= _paths(task)


def test_task_status_and_intent_codes_are_checked() -> None:
    task = {**_resources().task, "status": "done", "intent": "wish"}
    assert {"Task.status", "Task.intent"} <= _paths(task)


def test_detected_issue_severity_comes_from_the_r4_value_set() -> None:
    issue = {**_resources().detected_issue, "severity": "catastrophic"}  # type: ignore[dict-item]
    assert "DetectedIssue.severity" in _paths(issue)


def test_bundle_entries_are_checked_too() -> None:
    resources = _resources()
    broken = ResourceSet(
        medication_request={**resources.medication_request, "intent": "order"},
        communication_request=resources.communication_request,
        task=resources.task,
    )
    bundle = build_transaction_bundle(broken, delivery_id="dlv-1")
    assert "Bundle.entry[0].resource.intent" in _paths(bundle)
