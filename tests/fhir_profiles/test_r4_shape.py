"""fhir.resources has R4B, not R4: these tests show what Liaison emits and serves is R4 4.0.1.

The R4 side comes from fhirpathpy's `models/r4` tables (generated from the R4 4.0.1
StructureDefinitions), the R4B side from the fhir.resources models. docs/FHIR.md records
the outcome resource by resource.
"""

import re
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy import evaluate
from fhirpathpy.models import models

from fhir_profiles.conformance import base_bindings, base_invariants
from fhir_profiles.r4_shape import r4_issues
from fhir_profiles.validation import resource_issues

R4 = models["r4"]
# Every resource type Liaison emits (and contains), reads back, or serves.
LIAISON_TYPES = [
    "MedicationRequest",
    "CommunicationRequest",
    "Task",
    "DetectedIssue",
    "Bundle",
    "OperationOutcome",
    "CapabilityStatement",
    "StructureDefinition",
    "CodeSystem",
    "ValueSet",
    "ConceptMap",
    "Patient",
    "Practitioner",
]


def _r4b_paths(model: Any, prefix: str, root: str) -> set[str]:
    paths = set()
    for name, field in model.model_fields.items():
        if name.endswith("__ext") or name in ("fhir_comments", "resource_type"):
            continue
        path = f"{prefix}.{field.alias or name}"
        paths.add(path)
        backbone = re.search(r"abc\.(\w+)Type", str(field.annotation))
        if (
            backbone
            and backbone.group(1).startswith(root)
            and backbone.group(1) != root
            and path not in R4["pathsDefinedElsewhere"]
        ):
            paths |= _r4b_paths(get_fhir_model_class(backbone.group(1)), path, root)
    return paths


def _r4_paths(root: str) -> set[str]:
    paths = set()
    for key in [*R4["path2Type"], *R4["pathsDefinedElsewhere"]]:
        if key.startswith(f"{root}."):
            parts = key.split(".")
            paths |= {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
    return paths


@pytest.mark.parametrize("resource_type", LIAISON_TYPES)
def test_r4b_and_r4_have_exactly_the_same_elements(resource_type: str) -> None:
    model = get_fhir_model_class(resource_type)
    assert _r4b_paths(model, resource_type, resource_type) == _r4_paths(resource_type)


def test_extension_value_types_differ_and_the_r4_check_catches_r4b_only_ones() -> None:
    r4b = {f.alias or n for n, f in get_fhir_model_class("Extension").model_fields.items()}
    r4 = {k.split(".")[1] for k in R4["path2Type"] if k.startswith("Extension.")}
    assert {n for n in r4b - r4 if not n.endswith("__ext") and n != "fhir_comments"} == {
        "valueCodeableReference",
        "valueRatioRange",
    }
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "extension": [
            {"url": "http://example.org/x", "valueCodeableReference": {"concept": {"text": "x"}}}
        ],
    }
    get_fhir_model_class("Task").model_validate(task)  # R4B accepts it...
    assert [i.path for i in r4_issues(task)] == ["Task.extension[0].valueCodeableReference"]


def test_base_binding_codes_agree_with_r4b_where_r4b_lists_them_whole() -> None:
    checked = 0
    for path, binding in base_bindings().items():
        resource_type, _, element = path.partition(".")
        if "." in element:
            continue
        try:
            model = get_fhir_model_class(resource_type)
        except (KeyError, ValueError):
            continue
        field = model.model_fields.get(element)
        extra = (field.json_schema_extra if field else None) or {}
        listed = extra.get("enum_values") if isinstance(extra, dict) else None
        if isinstance(listed, list) and "+" not in listed:
            assert set(listed) == binding.codes, path
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2025-01-15T09:30:00Z", True),
        ("2025-01-15T09:30:00+01:00", True),
        ("2025-01-15", True),
        ("2025", True),
        ("2025-01-15T09:30:00", False),  # a time needs a zone
        ("2025-13-01", False),
        ("15/01/2025", False),
    ],
)
def test_an_r4_datetime_is_a_date_or_a_time_with_its_zone(value: str, ok: bool) -> None:
    task = {"resourceType": "Task", "status": "requested", "intent": "order", "authoredOn": value}
    assert (r4_issues(task) == []) is ok


def test_empty_values_are_not_r4_json() -> None:
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "note": [],
        "description": "  ",
        "code": {},
    }
    assert {i.path for i in r4_issues(task)} == {"Task.note", "Task.description", "Task.code"}


def test_an_extension_needs_a_url_and_a_value_or_extensions_not_both() -> None:
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "extension": [
            {"valueString": "no url"},
            {"url": "http://x", "valueString": "v", "extension": [{"url": "a", "valueCode": "b"}]},
        ],
    }
    paths = {i.path for i in r4_issues(task)}
    assert {"Task.extension[0].url", "Task.extension[1]"} <= paths


def test_the_python_dom_3_check_agrees_with_its_fhirpath_form() -> None:
    expression = next(
        i for i in base_invariants() if i.key == "dom-3"
    ).expression  # the published one, for the record
    assert "contained.where" in expression
    import json
    from importlib import resources

    document = json.loads(
        (resources.files("fhir_profiles.definitions") / "base-r4-invariants.json").read_text()
    )
    reference_only = next(i for i in document["invariants"] if i["key"] == "dom-3")[
        "referenceOnlyExpression"
    ]
    for subject in ("#p", "#q"):
        resource = {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "proposal",
            "contained": [{"resourceType": "Patient", "id": "p"}],
            "subject": {"reference": subject},
        }
        by_fhirpath = evaluate(resource, reference_only, {"resource": resource}, R4) == [True]
        by_python = not any("dom-3" in i.message for i in r4_issues(resource))
        assert by_fhirpath == by_python == (subject == "#p")


def test_a_served_operation_outcome_is_valid_r4() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": "MedicationRequest.intent: must be 'proposal'",
                "expression": ["MedicationRequest.intent"],
            }
        ],
    }
    assert resource_issues(outcome) == []
    outcome["issue"][0]["code"] = "oops"
    assert [i.path for i in resource_issues(outcome)] == ["OperationOutcome.issue[0].code"]
