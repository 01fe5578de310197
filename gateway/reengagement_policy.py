"""When a recommendation counts as expired, from the deployment's settings: read by the API
(re-opening, the follow-up view) and by the try-again prompt (gateway.services.plan_reminders)."""

from datetime import timedelta

from gateway.domain.chase_policy import ChasePolicy, WorkingDays
from gateway.domain.expiry import ExpiryPolicy
from gateway.settings import Settings


def expiry_policy(settings: Settings) -> ExpiryPolicy:
    return ExpiryPolicy(
        uncollected_for=timedelta(seconds=settings.collection.expire_after_seconds),
        chase=ChasePolicy(
            again_after_days=settings.chasing.again_after_days,
            limit=settings.chasing.limit,
            calendar=WorkingDays(settings.development.working_day_seconds),
        ),
    )
