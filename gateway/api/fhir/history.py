"""FHIR history and vread of the resources Liaison stores (FHIR R4 RESTful API, "history"
and "vread": https://hl7.org/fhir/R4/http.html#history, #vread).

A history is a Bundle of type `history`, newest version first; each entry carries the
version as it was and the interaction that made it (`request`, `response`), as bdl-3 and
bdl-4 require of a history Bundle. Version 1 is the create; every later one an update.
"""

from datetime import UTC
from typing import Any

from fhir_profiles.systems import UKCORE_BUNDLE
from gateway.store.models import FhirResource
from gateway.store.repositories.recommendations import StoredVersion


def served(resource: FhirResource, version: StoredVersion) -> dict[str, Any]:
    """`version` of `resource` as the API serves it: meta.versionId and lastUpdated set."""
    return {
        **version.body,
        "meta": {
            **version.body.get("meta", {}),
            "versionId": str(version.version_id),
            "lastUpdated": version.last_updated.astimezone(UTC).isoformat(),
        },
    }


def _entry(base: str, resource: FhirResource, version: StoredVersion) -> dict[str, Any]:
    created = version.version_id == 1
    return {
        "fullUrl": f"{base}/fhir/{resource.resource_type}/{resource.id}",
        "resource": served(resource, version),
        "request": {
            "method": "POST" if created else "PUT",
            "url": resource.resource_type if created else f"{resource.resource_type}/{resource.id}",
        },
        "response": {
            "status": "201 Created" if created else "200 OK",
            "etag": f'W/"{version.version_id}"',
            "lastModified": version.last_updated.astimezone(UTC).isoformat(),
        },
    }


def history_bundle(
    base: str, self_url: str, resource: FhirResource, versions: list[StoredVersion]
) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [UKCORE_BUNDLE]},
        "type": "history",
        "total": len(versions),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [_entry(base, resource, version) for version in versions],
    }
