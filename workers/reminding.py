"""Reminders that follow the plan, and the practitioner's follow-ups.

Beat runs `remind_plans` every LIAISON_REMINDERS__CHECK_SECONDS. It records what is due
(gateway.services.plan_reminders) in one transaction; the notify tasks send it. Running it twice, or
on two workers at once, records nothing twice: each event has one row per recipient.
"""

from datetime import UTC, datetime, timedelta

from gateway.reengagement_policy import expiry_policy
from gateway.services.plan_reminders import raise_plan_reminders, raise_try_again_prompts
from gateway.store.unit_of_work import UnitOfWork
from workers.runtime import Runtime


def remind_plans(rt: Runtime, *, now: datetime | None = None) -> int:
    """Record the plan reminders, follow-ups and try-again prompts due at `now`."""
    now = now or datetime.now(UTC)
    settings = rt.settings
    with UnitOfWork(rt.session_factory) as uow:
        raised = raise_plan_reminders(
            uow,
            now=now,
            defaults=settings.reminders,
            quiet=(settings.audience.quiet_hours_start, settings.audience.quiet_hours_end),
        )
        raised += raise_try_again_prompts(
            uow,
            now=now,
            after=timedelta(seconds=settings.reminders.try_again_prompt_after_seconds),
            expiry=expiry_policy(settings),
        )
        uow.commit()
    return raised
