"""The audit trail: one append-only record per recommendation a request touched (or one for
the request when it touched none), and its FHIR R4 `AuditEvent` form.

Records carry ids only (client, organisation, recommendation, route) — an engineer reading
the trail learns who touched which recommendation when, never whose it was.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fhir_profiles import systems
from gateway.security.context import RequestContext
from gateway.store.models import AuditRecord
from gateway.store.unit_of_work import UnitOfWork

CLIENT_ID_SYSTEM = f"{systems.LIAISON_CANONICAL}/Id/api-client"
INBOX_USER_SYSTEM = f"{systems.LIAISON_CANONICAL}/Id/inbox-user"
_EVENT_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_INTERACTION_SYSTEM = "http://hl7.org/fhir/restful-interaction"
_SOURCE_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
    "code": "3",
    "display": "Web Server",
}
_ENTITY_TYPE = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
    "code": "2",
    "display": "System Object",
}
_OUTCOME_TEXT = {"0": "success", "4": "refused", "8": "failed"}


@dataclass(frozen=True)
class RequestFacts:
    method: str
    route: str
    has_path_parameters: bool
    status_code: int


def classify(method: str, *, has_path_parameters: bool) -> tuple[str, str]:
    """(AuditEvent.action, restful interaction) for an HTTP request."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "R", "read" if has_path_parameters else "search"
    if method == "POST":
        # A POST to a collection creates; to an item it runs an operation (cancel, replay).
        return ("E", "operation") if has_path_parameters else ("C", "create")
    if method in ("PUT", "PATCH"):
        return "U", "update"
    if method == "DELETE":
        return "D", "delete"
    return "E", "operation"


def outcome(status_code: int) -> str:
    if status_code >= 500:
        return "8"
    return "4" if status_code >= 400 else "0"


def records_for(
    context: RequestContext, facts: RequestFacts, *, now: datetime
) -> list[AuditRecord]:
    action, interaction = classify(facts.method, has_path_parameters=facts.has_path_parameters)
    actor = context.actor
    ids: Sequence[str | None] = list(context.recommendations) or [None]
    return [
        AuditRecord(
            recorded_at=now,
            correlation_id=context.correlation_id,
            client_id=actor.client_id if actor else None,
            organisation_ods=actor.organisation_ods if actor else None,
            actor_kind=actor.kind if actor else None,
            user=actor.user if actor else None,
            remote_addr=context.remote_addr,
            action=action,
            interaction=interaction,
            method=facts.method.upper()[:8],
            route=facts.route[:200],
            recommendation_id=recommendation_id,
            status_code=facts.status_code,
            outcome=outcome(facts.status_code),
        )
        for recommendation_id in ids
    ]


def record_request(
    uow: UnitOfWork, context: RequestContext, facts: RequestFacts, *, now: datetime
) -> int:
    records = records_for(context, facts, now=now)
    uow.audit.add_all(records)
    uow.commit()
    return len(records)


_PROVIDER_ROLE: Final = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
            "code": "PROV",
            "display": "healthcare provider",
        }
    ]
}
_APPLICATION_ROLE: Final = {
    "coding": [
        {
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": "110150",
            "display": "Application",
        }
    ]
}


def _agents(record: AuditRecord) -> list[dict[str, Any]]:
    """The calling application, and the organisation it acted for when known."""
    agent: dict[str, Any] = {
        "type": _APPLICATION_ROLE,
        "who": (
            {
                "identifier": {"system": CLIENT_ID_SYSTEM, "value": record.client_id},
                "display": record.client_id,
            }
            if record.client_id
            else {"display": "unauthenticated caller"}
        ),
        "requestor": True,
    }
    if record.user:
        agent["altId"] = record.user
    if record.remote_addr:
        agent["network"] = {"address": record.remote_addr, "type": "2"}
    if not record.organisation_ods:
        return [agent]
    organisation = {
        "type": _PROVIDER_ROLE,
        "who": {
            "identifier": {
                "system": systems.ODS_ORGANIZATION_CODE,
                "value": record.organisation_ods,
            }
        },
        "requestor": False,
    }
    return [agent, organisation]


def _entity(record: AuditRecord) -> dict[str, Any]:
    """The route called and, when it named one, the recommendation it touched."""
    detail = [{"type": "route", "valueString": record.route}]
    if record.correlation_id:
        detail.append({"type": "correlation-id", "valueString": record.correlation_id})
    entity: dict[str, Any] = {
        "type": _ENTITY_TYPE,
        "description": f"{record.method} {record.route}",
        "detail": detail,
    }
    if record.recommendation_id:
        entity["what"] = {
            "identifier": {"system": systems.RECOMMENDATION_ID, "value": record.recommendation_id}
        }
    return entity


def as_audit_event(record: AuditRecord) -> dict[str, Any]:
    """A FHIR R4 AuditEvent for one record."""
    agents = _agents(record)
    entity = _entity(record)
    return {
        "resourceType": "AuditEvent",
        "id": str(record.id),
        "meta": {
            "lastUpdated": record.recorded_at.isoformat(),
            "profile": [systems.UKCORE_AUDIT_EVENT],
        },
        "type": _EVENT_TYPE,
        "subtype": [
            {
                "system": _INTERACTION_SYSTEM,
                # FHIR's word for a search over a type is search-type.
                "code": "search-type" if record.interaction == "search" else record.interaction,
            }
        ],
        "action": record.action,
        "recorded": record.recorded_at.isoformat(),
        "outcome": record.outcome,
        "outcomeDesc": f"HTTP {record.status_code} ({_OUTCOME_TEXT[record.outcome]})",
        "agent": agents,
        "source": {"observer": {"display": "Liaison gateway"}, "type": [_SOURCE_TYPE]},
        "entity": [entity],
    }
