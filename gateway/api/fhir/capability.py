"""Liaison's CapabilityStatement: what the /fhir API really does, built from the same tables
the routes use (search parameters) and the profiles Liaison publishes."""

from typing import Any, Final

from fhir_profiles import systems
from gateway.api.fhir.params import CONFORMANCE_TYPES, SEARCH_PARAMS, STORED_TYPES

VERSION: Final = "0.1.0"
DATE: Final = "2026-11-26"

PROFILES: Final[dict[str, tuple[str, ...]]] = {
    "MedicationRequest": (
        systems.PROFILE_MEDICATION_REQUEST,
        systems.PROFILE_MEDICATION_REQUEST_SUBMISSION,
    ),
    "CommunicationRequest": (systems.PROFILE_COMMUNICATION_REQUEST,),
    "Task": (systems.PROFILE_TASK,),
    "DetectedIssue": (systems.PROFILE_DETECTED_ISSUE,),
}

_DOCUMENTATION: Final[dict[str, str]] = {
    "MedicationRequest": (
        "The stop-smoking medicine a practitioner proposes (intent proposal). Create it with "
        "POST /fhir/MedicationRequest conforming to Liaison-MedicationRequest-Submission: it "
        "enters the same intake as POST /v1/recommendations and is idempotent on its "
        "identifier (the same resource again answers 200 with the first result; a different "
        "one with the same identifier is refused with 409). Its status becomes cancelled "
        "when the recommendation is withdrawn or declined, completed when collected."
    ),
    "CommunicationRequest": "The plain-language request to the GP practice.",
    "Task": (
        "Tracks fulfilment: every status change makes a new version, with the FHIR Task "
        "status, Liaison's status word as businessStatus and lastModified."
    ),
    "DetectedIssue": "A clinical-safety flag: medicines whose levels change when smoking stops.",
}


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    params = []
    for param in SEARCH_PARAMS[resource_type]:
        item: dict[str, Any] = {
            "name": param.name,
            "type": param.type,
            "documentation": param.documentation,
        }
        if param.definition:
            item["definition"] = param.definition
        params.append(item)
    return params


def _stored(resource_type: str) -> dict[str, Any]:
    interactions = [
        {"code": "read"},
        {"code": "vread", "documentation": "GET [type]/[id]/_history/[vid]."},
        {
            "code": "history-instance",
            "documentation": "GET [type]/[id]/_history: every version, newest first.",
        },
        {"code": "search-type"},
    ]
    if resource_type == "MedicationRequest":
        interactions.append({"code": "create", "documentation": "Idempotent on identifier."})
    return {
        "type": resource_type,
        "profile": PROFILES[resource_type][0],
        "supportedProfile": list(PROFILES[resource_type]),
        "documentation": _DOCUMENTATION[resource_type],
        "interaction": interactions,
        "versioning": "versioned",
        "readHistory": True,
        "updateCreate": False,
        "conditionalCreate": False,
        "searchParam": _search_params(resource_type),
    }


def _conformance(resource_type: str) -> dict[str, Any]:
    return {
        "type": resource_type,
        "documentation": f"Liaison's own {resource_type} resources (published definitions).",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": _search_params(resource_type),
    }


# GET /fhir/AuditEvent (gateway.api.fhir.audit_events): the audit trail, for the ops scope.
# Parameters as R4 defines them (https://hl7.org/fhir/R4/auditevent.html#search).
_AUDIT_EVENT: Final[dict[str, Any]] = {
    "type": "AuditEvent",
    "documentation": (
        "The append-only audit trail: one record per request to a protected route and "
        "recommendation it touched (who, client, organisation, route, outcome, correlation "
        "id). Needs the 'ops' scope; records carry ids, never patient details."
    ),
    "interaction": [{"code": "read"}, {"code": "search-type"}],
    "searchParam": [
        {
            "name": "entity",
            "type": "reference",
            "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-entity",
            "documentation": (
                "The recommendation the request touched: its id, or "
                f"{systems.RECOMMENDATION_ID}|<id>."
            ),
        },
        {
            "name": "agent",
            "type": "reference",
            "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-agent",
            "documentation": "The calling client's id.",
        },
        {
            "name": "date",
            "type": "date",
            "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-date",
            "documentation": (
                "When it was recorded: ge/gt/le/lt/eq + YYYY-MM-DD or a dateTime; give it "
                "twice for a range. Pages: _count (default 50, at most 200) and the next "
                "link's _offset."
            ),
        },
    ],
}


def capability_statement(base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "id": "liaison",
        "url": f"{systems.LIAISON_CANONICAL}/CapabilityStatement/liaison",
        "version": VERSION,
        "name": "LiaisonFhirApi",
        "title": "Liaison FHIR API",
        "status": "active",
        "experimental": False,
        "date": DATE,
        "publisher": "Liaison",
        "description": (
            "Read and search the FHIR R4 resources Liaison sends to GP practices, create a "
            "stop-smoking medicine proposal, follow a request's Task through its versions, "
            "and read Liaison's profiles and terminology."
        ),
        "kind": "instance",
        "software": {"name": "Liaison", "version": VERSION},
        "implementation": {"description": "Liaison", "url": f"{base_url.rstrip('/')}/fhir"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Pages: _count (default 20, at most 100) and the next link's _cursor. "
                    "Unknown search parameters are refused (400). Errors are "
                    "OperationOutcome resources whose issue.expression names the element."
                ),
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "OAuth",
                                    "display": "OAuth",
                                }
                            ]
                        }
                    ],
                    "description": (
                        "OAuth 2.0 bearer token (POST /oauth2/token) with the 'fhir' scope; "
                        "creating a MedicationRequest also needs 'recommendations'. A caller "
                        "sees only its own organisation's recommendations (a GP practice "
                        "system: those addressed to its practice). AuditEvent needs 'ops'."
                    ),
                },
                "resource": [_stored(t) for t in STORED_TYPES]
                + [_conformance(t) for t in CONFORMANCE_TYPES]
                + [_AUDIT_EVENT],
            }
        ],
    }
