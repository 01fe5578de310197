"""Reading a GP system's prescriptions: a `MedicationRequest` with intent `order` whose
`basedOn` points at Liaison's proposal means the practice has issued the prescription.

R4 has no `based-on` search parameter for MedicationRequest, so the adapter searches orders
changed since its cursor and resolves the proposals they are based on with one `_id` search
per page: the number of calls follows pages, never the number of outstanding requests.
"""

from typing import Any, Final
from urllib.parse import urlsplit

from fhir_profiles import systems
from fhir_profiles.instants import read_datetime
from fhir_profiles.task_status import StatusReport

# Order statuses that mean a prescription exists (FHIR R4 medicationrequest-status).
ISSUED: Final = frozenset({"active", "completed"})


def orders(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    resources = (entry.get("resource") or {} for entry in bundle.get("entry", []))
    return [
        r
        for r in resources
        if isinstance(r, dict)
        and r.get("resourceType") == "MedicationRequest"
        and r.get("intent") == "order"
    ]


def proposal_id(reference: dict[str, Any]) -> str | None:
    """The server id of a `MedicationRequest/<id>` reference (relative, absolute or
    versioned), or None for anything else."""
    value = reference.get("reference")
    if not isinstance(value, str):
        return None
    segments = urlsplit(value).path.strip("/").split("/")
    if len(segments) >= 4 and segments[-2] == "_history":
        segments = segments[:-2]
    if len(segments) >= 2 and segments[-2] == "MedicationRequest" and segments[-1]:
        return segments[-1]
    return None


def unresolved_proposals(found: list[dict[str, Any]], known: dict[str, str]) -> set[str]:
    """Proposal ids the orders point at whose recommendation is not known yet."""
    wanted: set[str] = set()
    for order in found:
        for reference in order.get("basedOn", []):
            if _identifier_value(reference) is None:
                pid = proposal_id(reference)
                if pid is not None and pid not in known:
                    wanted.add(pid)
    return wanted


def recommendation_ids(bundle: dict[str, Any]) -> dict[str, str]:
    """Server id -> Liaison recommendation id, for Liaison's proposals in a search result."""
    mapping: dict[str, str] = {}
    for entry in bundle.get("entry", []):
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "MedicationRequest" or not resource.get("id"):
            continue
        for identifier in resource.get("identifier", []):
            if identifier.get("system") == systems.RECOMMENDATION_ID and identifier.get("value"):
                mapping[str(resource["id"])] = str(identifier["value"])
    return mapping


def _identifier_value(reference: dict[str, Any]) -> str | None:
    identifier = reference.get("identifier") or {}
    if identifier.get("system") == systems.RECOMMENDATION_ID and identifier.get("value"):
        return str(identifier["value"])
    return None


def interpret_order(order: dict[str, Any], proposals: dict[str, str]) -> StatusReport | None:
    """A prescription-issued report for an order based on one of Liaison's proposals."""
    if order.get("status") not in ISSUED:
        return None
    recommendation_id: str | None = None
    for reference in order.get("basedOn", []):
        recommendation_id = _identifier_value(reference)
        if recommendation_id is None:
            pid = proposal_id(reference)
            recommendation_id = proposals.get(pid) if pid else None
        if recommendation_id is not None:
            break
    if recommendation_id is None:
        return None
    performer = (order.get("dispenseRequest") or {}).get("performer") or {}
    pharmacy = performer.get("display")
    return StatusReport(
        recommendation_id=recommendation_id,
        status="prescription-issued",
        detail="Prescription issued by the practice",
        pharmacy=str(pharmacy) if pharmacy else None,
        observed_at=read_datetime(order.get("meta", {}).get("lastUpdated")),
    )
