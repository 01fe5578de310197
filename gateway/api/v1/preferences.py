"""How each practitioner hears from Liaison: every message at once, or one daily digest."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel

from gateway.api.dependencies import RecommendationsClient, UnitOfWorkDep
from gateway.api.v1.schemas import Strict
from gateway.store.models import PractitionerPreference

router = APIRouter(prefix="/v1/practitioners", tags=["practitioners"])

PractitionerId = Annotated[str, Path(min_length=1, max_length=100)]
Delivery = Literal["immediate", "daily-digest"]


class PreferencesIn(Strict):
    notifications: Delivery


class PreferencesOut(BaseModel):
    practitioner_id: str
    notifications: Delivery


@router.get("/{practitioner_id}/preferences", response_model=PreferencesOut)
def get_preferences(
    practitioner_id: PractitionerId, uow: UnitOfWorkDep, principal: RecommendationsClient
) -> PreferencesOut:
    """A practitioner who never chose hears about each event at once."""
    found = uow.engagement.preference(principal.organisation_ods, practitioner_id)
    delivery: Delivery = (
        "daily-digest" if found and found.delivery == "daily-digest" else ("immediate")
    )
    return PreferencesOut(practitioner_id=practitioner_id, notifications=delivery)


@router.put("/{practitioner_id}/preferences", response_model=PreferencesOut)
def set_preferences(
    practitioner_id: PractitionerId,
    body: PreferencesIn,
    uow: UnitOfWorkDep,
    principal: RecommendationsClient,
) -> PreferencesOut:
    """`daily-digest` gathers the practitioner's messages into one email a day (at
    LIAISON_AUDIENCE__DIGEST_HOUR, UK time); messages already waiting follow the new choice."""
    uow.engagement.set_preference(
        PractitionerPreference(
            organisation_ods=principal.organisation_ods,
            practitioner_id=practitioner_id,
            delivery=body.notifications,
            updated_at=datetime.now(UTC),
        )
    )
    uow.commit()
    return PreferencesOut(practitioner_id=practitioner_id, notifications=body.notifications)
