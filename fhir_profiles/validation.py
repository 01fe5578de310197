"""Validate a FHIR R4 resource: structure via `fhir.resources.R4B`, then Liaison's profile rules.

A first cut: the profile rules below are written by hand for the three resource
types Liaison sends (MedicationRequest, CommunicationRequest, Task); they apply
by `resourceType`, and to the entries of a Bundle. Structural checks cover
cardinality and datatypes but not required code bindings, so the status and
intent codes of these types are checked here too.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

from fhir_profiles import systems


@dataclass(frozen=True)
class Issue:
    path: str  # FHIR-style element path, e.g. "MedicationRequest.dosageInstruction[0].text"
    message: str


class InvalidResource(ValueError):
    """A resource failed structural or profile validation; `issues` says where and why."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues: list[Issue] = list(issues)
        super().__init__("; ".join(f"{issue.path}: {issue.message}" for issue in self.issues))


# Required bindings in base FHIR R4 (http://hl7.org/fhir/R4/valueset-*.html), which the
# fhir.resources models do not enforce.
MEDICATION_REQUEST_STATUS: Final = frozenset(
    {
        "active",
        "on-hold",
        "cancelled",
        "completed",
        "entered-in-error",
        "stopped",
        "draft",
        "unknown",
    }
)
REQUEST_STATUS: Final = frozenset(
    {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
)
TASK_STATUS: Final = frozenset(
    {
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
)
TASK_INTENT: Final = frozenset(
    {
        "unknown",
        "proposal",
        "plan",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    }
)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _nhs_number_ok(value: Any) -> bool:
    # Modulus 11 check, as described in shared/REFERENCE.md.
    if not isinstance(value, str) or len(value) != 10 or not value.isdigit():
        return False
    total = sum(
        int(digit) * weight for digit, weight in zip(value[:9], range(10, 1, -1), strict=True)
    )
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def _has_identifier(identifiers: Any, system: str) -> bool:
    return any(
        _as_dict(identifier).get("system") == system and _as_dict(identifier).get("value")
        for identifier in _as_list(identifiers)
    )


def _check_code(
    resource: Mapping[str, Any], element: str, allowed: frozenset[str], at: str
) -> list[Issue]:
    value = resource.get(element)
    if value is None:
        return [Issue(f"{at}.{element}", "is required")]
    if value not in allowed:
        return [Issue(f"{at}.{element}", f"{value!r} is not one of {sorted(allowed)}")]
    return []


def _check_recommendation_id(resource: Mapping[str, Any], at: str) -> list[Issue]:
    # Every status report is matched back to its recommendation through this identifier.
    if _has_identifier(resource.get("identifier"), systems.RECOMMENDATION_ID):
        return []
    return [
        Issue(f"{at}.identifier", f"needs an identifier with system {systems.RECOMMENDATION_ID}")
    ]


def _check_nhs_subject(resource: Mapping[str, Any], element: str, at: str) -> list[Issue]:
    path = f"{at}.{element}"
    if element not in resource:
        return [Issue(path, "is required")]
    identifier = _as_dict(_as_dict(resource[element]).get("identifier"))
    if identifier.get("system") != systems.NHS_NUMBER:
        return [Issue(f"{path}.identifier", f"must be an NHS number (system {systems.NHS_NUMBER})")]
    if not _nhs_number_ok(identifier.get("value")):
        return [Issue(f"{path}.identifier.value", "is not a valid NHS number")]
    return []


def _is_ods(reference: Any) -> bool:
    identifier = _as_dict(_as_dict(reference).get("identifier"))
    return identifier.get("system") == systems.ODS_ORGANIZATION_CODE and bool(
        identifier.get("value")
    )


_NOT_ODS: Final = f"must be an ODS code (system {systems.ODS_ORGANIZATION_CODE})"


def _medication_request_rules(resource: Mapping[str, Any], at: str) -> list[Issue]:
    issues = _check_recommendation_id(resource, at)
    issues += _check_code(resource, "status", MEDICATION_REQUEST_STATUS, at)
    if resource.get("intent") != "proposal":
        # The practitioner proposes; only the GP practice can turn it into an order.
        issues.append(Issue(f"{at}.intent", f"must be 'proposal', not {resource.get('intent')!r}"))
    issues += _check_nhs_subject(resource, "subject", at)
    concept = _as_dict(resource.get("medicationCodeableConcept"))
    if not (concept.get("text") or concept.get("coding")):
        issues.append(Issue(f"{at}.medicationCodeableConcept", "is required (with text or coding)"))
    if "substitution" not in resource:
        issues.append(Issue(f"{at}.substitution", "is required (UK Core: 1..1)"))
    return issues


def _communication_request_rules(resource: Mapping[str, Any], at: str) -> list[Issue]:
    issues = _check_recommendation_id(resource, at)
    issues += _check_code(resource, "status", REQUEST_STATUS, at)
    issues += _check_nhs_subject(resource, "subject", at)
    recipients = _as_list(resource.get("recipient"))
    if not recipients:
        issues.append(Issue(f"{at}.recipient", "is required (the GP practice's ODS code)"))
    elif not any(_is_ods(recipient) for recipient in recipients):
        issues.append(Issue(f"{at}.recipient[0].identifier", _NOT_ODS))
    if not _as_list(resource.get("payload")):
        issues.append(Issue(f"{at}.payload", "is required"))
    return issues


def _task_rules(resource: Mapping[str, Any], at: str) -> list[Issue]:
    issues = _check_recommendation_id(resource, at)
    issues += _check_code(resource, "status", TASK_STATUS, at)
    issues += _check_code(resource, "intent", TASK_INTENT, at)
    if "owner" not in resource:
        issues.append(Issue(f"{at}.owner", "is required (the GP practice's ODS code)"))
    elif not _is_ods(resource["owner"]):
        issues.append(Issue(f"{at}.owner.identifier", _NOT_ODS))
    if not _as_dict(resource.get("focus")).get("reference"):
        issues.append(Issue(f"{at}.focus", "is required (a reference to the MedicationRequest)"))
    return issues


_PROFILE_RULES: Final[Mapping[str, Callable[[Mapping[str, Any], str], list[Issue]]]] = {
    "MedicationRequest": _medication_request_rules,
    "CommunicationRequest": _communication_request_rules,
    "Task": _task_rules,
}


def _path(resource_type: str, loc: Iterable[int | str]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType"
        else:
            path += f".{part}"
    return path


def _structural_issues(resource: Mapping[str, Any], resource_type: str) -> list[Issue]:
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        model = None
    if model is None or not issubclass(model, Resource):
        return [Issue("resourceType", f"{resource_type!r} is not an R4 resource type")]
    try:
        model.model_validate(dict(resource))
    except pydantic.ValidationError as error:
        return [
            Issue(_path(resource_type, detail["loc"]), detail["msg"].removeprefix("Value error, "))
            for detail in error.errors()
        ]
    return []


def _rule_issues(resource: Mapping[str, Any], resource_type: str, at: str) -> list[Issue]:
    rules = _PROFILE_RULES.get(resource_type)
    issues = rules(resource, at) if rules else []
    if resource_type == "Bundle":
        for index, entry in enumerate(_as_list(resource.get("entry"))):
            inner = _as_dict(_as_dict(entry).get("resource"))
            inner_type = inner.get("resourceType")
            if isinstance(inner_type, str):
                issues += _rule_issues(inner, inner_type, f"{at}.entry[{index}].resource")
    return issues


def validate_resource(resource: Mapping[str, Any]) -> None:
    """Raise InvalidResource listing every problem found; return None when the resource is fine."""
    resource_type = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if not isinstance(resource_type, str):
        raise InvalidResource([Issue("resourceType", "is required")])
    issues = _structural_issues(resource, resource_type)
    seen = {issue.path for issue in issues}
    # The structural pass already names most missing elements; keep one issue per path.
    issues += [
        issue
        for issue in _rule_issues(resource, resource_type, resource_type)
        if issue.path not in seen
    ]
    if issues:
        raise InvalidResource(issues)


def validate_all(resources: Iterable[Mapping[str, Any]]) -> None:
    """Validate each resource; raise one InvalidResource with the issues of all of them."""
    issues: list[Issue] = []
    for resource in resources:
        try:
            validate_resource(resource)
        except InvalidResource as error:
            issues += error.issues
    if issues:
        raise InvalidResource(issues)
