"""Collection reminders: a service user whose prescription has waited N days uncollected is
reminded, up to a limit. Each reminder is its own event ("collection-reminder-1", ...), so
the once-per-recipient rule still holds for every one of them.

The caller commits.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.domain.audience import event_number
from gateway.services.status_updates import record_event
from gateway.store.ports import UnitOfWorkPort

PREFIX = "collection-reminder-"


@dataclass(frozen=True)
class ReminderPolicy:
    every: timedelta = timedelta(days=3)
    limit: int = 2


def next_reminder(
    *, ready_at: datetime, sent: int, now: datetime, policy: ReminderPolicy
) -> int | None:
    """The number of the reminder due now, if any: the k-th is due k intervals after ready."""
    number = sent + 1
    if number > policy.limit or now < ready_at + policy.every * number:
        return None
    return number


def send_due_reminders(
    uow: UnitOfWorkPort, *, now: datetime, policy: ReminderPolicy, batch: int = 500
) -> int:
    """Raise every collection reminder that has fallen due; the caller commits."""
    raised = 0
    for waiting in uow.follow_ups.awaiting_collection(limit=batch):
        numbers = [
            n
            for e in uow.notifications.events_for(waiting.recommendation_id, prefix=PREFIX)
            if (n := event_number(e)) is not None
        ]
        number = next_reminder(
            ready_at=waiting.ready_at, sent=max(numbers, default=0), now=now, policy=policy
        )
        if number is None:
            continue
        recommendation = uow.recommendations.get(waiting.recommendation_id)
        assert recommendation is not None
        if record_event(uow, recommendation, f"{PREFIX}{number}", now=now):
            raised += 1
    return raised
