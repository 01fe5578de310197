"""/fhir: read the resources Liaison stores, and its CapabilityStatement."""

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from fhir_profiles import systems
from gateway.api.dependencies import FhirClient, UnitOfWorkDep

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"
READABLE = ("MedicationRequest", "CommunicationRequest", "Task")


def capability_statement() -> dict[str, Any]:
    profiles = {
        "MedicationRequest": systems.PROFILE_MEDICATION_REQUEST,
        "CommunicationRequest": systems.PROFILE_COMMUNICATION_REQUEST,
        "Task": systems.PROFILE_TASK,
    }
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-26",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "software": {"name": "Liaison"},
        "rest": [
            {
                "mode": "server",
                "security": {"description": "OAuth2 bearer token with the 'fhir' scope"},
                "resource": [
                    {
                        "type": t,
                        "supportedProfile": [profiles[t]],
                        "interaction": [{"code": "read"}],
                    }
                    for t in READABLE
                ],
            }
        ],
    }


@router.get("/metadata", response_class=JSONResponse)
def metadata() -> JSONResponse:
    return JSONResponse(capability_statement(), media_type=FHIR_JSON)


@router.get("/{resource_type}/{resource_id}", response_class=JSONResponse)
def read(
    resource_type: str, resource_id: str, uow: UnitOfWorkDep, principal: FhirClient
) -> JSONResponse:
    if resource_type not in READABLE:
        raise HTTPException(404, f"resource type {resource_type} is not served here")
    resource = uow.recommendations.get_resource(resource_type, resource_id)
    owner = uow.recommendations.get(resource.recommendation_id) if resource else None
    if resource is None or owner is None or owner.organisation_ods != principal.organisation_ods:
        raise HTTPException(404, f"{resource_type}/{resource_id} is not known")
    body = {
        **resource.body,
        "meta": {
            **resource.body.get("meta", {}),
            "versionId": str(resource.version_id),
            "lastUpdated": resource.last_updated.isoformat(),
        },
    }
    return JSONResponse(body, media_type=FHIR_JSON, headers={"ETag": f'W/"{resource.version_id}"'})
