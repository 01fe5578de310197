"""Use case: keep Liaison's own stored Task and MedicationRequest in step with the
recommendation, in the transaction that changes its status.

Each change makes a new version of the Task (status, businessStatus, lastModified) and, when
the proposal is over, of the MedicationRequest; the versions they replace are kept, so
`GET /fhir/Task/{id}/_history` shows the way it went. The shapes are pure
(`fhir_profiles.fulfilment`); this module only finds the rows and stores the result.
"""

from datetime import datetime
from typing import Final

from fhir_profiles.fulfilment import medication_request_at, task_at
from gateway.store.models import Recommendation
from gateway.store.ports import UnitOfWorkPort

# The resource types a status change moves: only their bodies are read (a caller changing
# many recommendations reads them beforehand, `RecommendationRepository.lock_many`).
TRACKED: Final = ("MedicationRequest", "Task")


def track(
    uow: UnitOfWorkPort,
    recommendation: Recommendation,
    status: str,
    *,
    now: datetime,
    detail: str | None = None,
    pharmacy: str | None = None,
) -> None:
    """Record that `recommendation` is now `status` on its stored resources."""
    for resource in uow.recommendations.resources_for(recommendation.id, types=TRACKED):
        if resource.resource_type == "Task":
            task = task_at(resource.body, status, now=now, detail=detail, pharmacy=pharmacy)
            uow.recommendations.update_resource(resource, task, now=now)
        elif resource.resource_type == "MedicationRequest":
            changed = medication_request_at(resource.body, status)
            if changed is not None:
                uow.recommendations.update_resource(resource, changed, now=now)
