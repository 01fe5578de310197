"""One delivery attempt as a FHIR transaction Bundle of conditional creates."""

import copy
from collections.abc import Mapping
from typing import Any

from fhir_profiles import systems
from fhir_profiles.builders_common import FHIR_ID, ResourceSet, serialise, urn


def _rewrite_references(node: Any, urns: Mapping[str, str]) -> Any:
    """Point every Reference.reference at the entry's fullUrl. A `reference` key on a
    resource itself (DetectedIssue.reference, a uri to the authority) is not a Reference."""
    if isinstance(node, dict):
        is_resource = "resourceType" in node
        return {
            key: (
                urns.get(value, value)
                if key == "reference" and isinstance(value, str) and not is_resource
                else _rewrite_references(value, urns)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_references(item, urns) for item in node]
    return node


def _if_none_exist(resource: Mapping[str, Any], delivery_id: str) -> str:
    """The conditional-create query. A combination's MedicationRequests share the delivery
    id (a withdrawal finds and cancels them all by it), so each is also matched on its own
    identifier: repeated parameters are ANDed (http://hl7.org/fhir/R4/search.html#combining),
    and without it a server would take the second medicine for the first and drop it."""
    query = f"identifier={systems.DELIVERY_ID}|{delivery_id}"
    for identifier in resource.get("identifier", []):
        if identifier.get("system") == systems.MEDICATION_REQUEST_ID:
            query += f"&identifier={systems.MEDICATION_REQUEST_ID}|{identifier['value']}"
    return query


def build_transaction_bundle(resources: ResourceSet, *, delivery_id: str) -> dict[str, Any]:
    """One delivery attempt as a FHIR transaction of conditional creates.

    Every entry carries the delivery id as an identifier and asks the server to
    create it only if no resource of that type already has it, so a retried
    delivery cannot create duplicates at a conforming server. Same input, same
    output: no clock, no random ids.
    """
    if not FHIR_ID.fullmatch(delivery_id):
        raise ValueError("delivery_id must be a FHIR id: 1-64 of A-Z a-z 0-9 - .")
    originals = resources.all()
    urns = {f"{r['resourceType']}/{r['id']}": urn(str(r["id"])) for r in originals}
    entries: list[dict[str, Any]] = []
    for original in originals:
        resource: dict[str, Any] = copy.deepcopy(original)
        resource_type = str(resource["resourceType"])
        full_url = urns[f"{resource_type}/{resource.pop('id')}"]
        meta = resource.get("meta")
        if isinstance(meta, dict):
            # Server-assigned; a client that sends them on create is asking for a rejection.
            meta.pop("versionId", None)
            meta.pop("lastUpdated", None)
            if not meta:
                del resource["meta"]
        resource["identifier"] = [
            identifier
            for identifier in resource.get("identifier", [])
            if identifier.get("system") != systems.DELIVERY_ID
        ] + [{"system": systems.DELIVERY_ID, "value": delivery_id}]
        entries.append(
            {
                "fullUrl": full_url,
                "resource": _rewrite_references(resource, urns),
                "request": {
                    "method": "POST",
                    "url": resource_type,
                    "ifNoneExist": _if_none_exist(resource, delivery_id),
                },
            }
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": delivery_id,
        "meta": {"profile": [systems.UKCORE_BUNDLE]},
        "type": "transaction",
        "entry": entries,
    }
    return serialise("Bundle", bundle)
