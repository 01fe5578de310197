"""Withdrawing a request from a GP system's FHIR R4 endpoint.

The practice's copies of a request carry the delivery identifier they were created with
(`identifier=<delivery system>|<delivery id>`), so they are found with a token search
(http://hl7.org/fhir/R4/search.html#token) and each is updated in place
(http://hl7.org/fhir/R4/http.html#update) with `If-Match` on the version read
(http.html#concurrency): whatever the practice recorded on them stays, only the status
moves. The Task becomes `cancelled` with the reason as its `statusReason`
(R4 task-status: "The task was not completed"), the MedicationRequest `cancelled`
(R4 medicationrequest-status: "The prescription has been withdrawn before any
administrations have occurred"). A copy already cancelled is left alone, so a retried
withdrawal changes nothing twice. Pure: resources in, resources out.
"""

from datetime import UTC, datetime
from typing import Any, Final

from fhir_profiles import systems
from fhir_profiles.terminology import display

# The resources a withdrawal cancels, the Task first: it is what practice staff work from.
WITHDRAWN_TYPES: Final = ("Task", "MedicationRequest")
CANCELLED: Final = "cancelled"


def identifier_token(delivery_id: str) -> str:
    return f"{systems.DELIVERY_ID}|{delivery_id}"


def matches(bundle: dict[str, Any], resource_type: str, delivery_id: str) -> list[dict[str, Any]]:
    """The searchset's resources of `resource_type` that really carry the delivery id (a
    server that ignored the search parameter must not get every resource cancelled)."""
    found: list[dict[str, Any]] = []
    for entry in bundle.get("entry", []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
            continue
        if not resource.get("id"):
            continue
        if any(
            isinstance(i, dict)
            and i.get("system") == systems.DELIVERY_ID
            and i.get("value") == delivery_id
            for i in resource.get("identifier", [])
        ):
            found.append(resource)
    return found


def cancelled(resource: dict[str, Any], reason: str, *, now: datetime) -> dict[str, Any] | None:
    """`resource` withdrawn, or None when it already is (nothing to send)."""
    if resource.get("status") == CANCELLED:
        return None
    updated = dict(resource)
    updated["status"] = CANCELLED
    updated["statusReason"] = {"text": reason}
    if resource.get("resourceType") == "Task":
        shown = display(systems.LIAISON_STATUS, CANCELLED) or CANCELLED
        updated["businessStatus"] = {
            "coding": [{"system": systems.LIAISON_STATUS, "code": CANCELLED, "display": shown}],
            "text": shown,
        }
        # Task inv-1 (lastModified >= authoredOn) compares at the coarser precision of the two.
        authored = resource.get("authoredOn")
        timespec = "seconds" if isinstance(authored, str) and "." not in authored else "auto"
        stamp = now.astimezone(UTC).isoformat(timespec=timespec)
        updated["lastModified"] = stamp.replace("+00:00", "Z")
    return updated


def version_of(resource: dict[str, Any]) -> str | None:
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    return str(version) if version else None
