"""Celery tasks: thin shells that take an id and call a plain function.

Shared tasks (Celery's `shared_task`): they join whichever app the process built
(`workers.app.create_celery_app`), so importing this module needs no app and reads no
environment. A task that sends tasks sends them through its own app, `self.app`.
"""

from celery import Celery, Task, shared_task

from workers import (
    alerting,
    appointments,
    chasing,
    delivery,
    notifying,
    polling,
    relay,
    reminding,
    replaying,
)
from workers.publishing import send, together
from workers.runtime import runtime

_TASK_FOR_KIND = {
    "deliver": "liaison.deliver",
    "notify": "liaison.notify",
    "replay-batch": "liaison.replay_batch",
}


def _publisher(app: Celery) -> relay.Publish:
    def publish(kind: str, ref_id: str) -> None:
        send(app, _TASK_FOR_KIND[kind], [ref_id])

    return publish


def _together(app: Celery) -> relay.Together:
    return lambda: together(app)


@shared_task(name="liaison.deliver", bind=True, max_retries=0)
def deliver(self: Task, delivery_id: str) -> str:
    return delivery.deliver(runtime(), delivery_id)


@shared_task(name="liaison.notify", bind=True, max_retries=0)
def notify(self: Task, notification_id: str) -> str:
    return notifying.send_notification(runtime(), notification_id)


@shared_task(name="liaison.poll_practice", max_retries=0)
def poll_practice(ods_code: str) -> int:
    return polling.poll_practice(runtime(), ods_code)


@shared_task(name="liaison.read_mesh_inbox", max_retries=0)
def read_mesh_inbox() -> int:
    return polling.read_mesh_inbox(runtime())


@shared_task(name="liaison.mesh_handshake", max_retries=0)
def mesh_handshake() -> bool:
    return polling.mesh_handshake(runtime())


@shared_task(name="liaison.poll_due", bind=True, max_retries=0)
def poll_due(self: Task) -> int:
    practices = polling.practices_to_poll(runtime())
    # A poll still queued after a few intervals is dropped: beat has queued a fresher one.
    expires = max(5 * runtime().settings.delivery.poll_interval_seconds, 10.0)
    with together(self.app):
        for ods_code in practices:
            # One task per practice: a slow practice holds up only its own poll.
            send(self.app, "liaison.poll_practice", [ods_code], expires=expires)
    return len(practices)


@shared_task(name="liaison.relay_outbox", bind=True, max_retries=0)
def relay_outbox(self: Task) -> int:
    return relay.relay_outbox(runtime(), _publisher(self.app), together=_together(self.app))


@shared_task(name="liaison.sweep", bind=True, max_retries=0)
def sweep(self: Task) -> int:
    return relay.sweep(runtime(), _publisher(self.app), together=_together(self.app))


@shared_task(name="liaison.replay_batch", max_retries=0)
def replay_batch(batch_id: str) -> None:
    replaying.run_replay_batch(runtime(), batch_id)


@shared_task(name="liaison.chase_due", bind=True, max_retries=0)
def chase_due(self: Task) -> int:
    return chasing.chase_due(
        runtime(), lambda chase_up_id: self.app.send_task("liaison.chase_up", args=[chase_up_id])
    )


@shared_task(name="liaison.chase_up", max_retries=0)
def chase_up(chase_up_id: str) -> str:
    return chasing.send_chase_up(runtime(), chase_up_id)


@shared_task(name="liaison.remind_collections", max_retries=0)
def remind_collections() -> int:
    return chasing.remind_collections(runtime())


@shared_task(name="liaison.remind_plans", max_retries=0)
def remind_plans() -> int:
    return reminding.remind_plans(runtime())


@shared_task(name="liaison.check_attendance", max_retries=0)
def check_attendance() -> int:
    return appointments.check_attendance(runtime())


@shared_task(name="liaison.digests_due", bind=True, max_retries=0)
def digests_due(self: Task) -> int:
    due = notifying.digests_due(runtime())
    for organisation_ods, practitioner_id in due:
        self.app.send_task("liaison.send_digest", args=[organisation_ods, practitioner_id])
    return len(due)


@shared_task(name="liaison.send_digest", max_retries=0)
def send_digest(organisation_ods: str, practitioner_id: str) -> str:
    return notifying.send_digest(runtime(), organisation_ods, practitioner_id)


@shared_task(name="liaison.check_alerts", max_retries=0)
def check_alerts() -> int:
    run = alerting.check_alerts(runtime())
    return run.raised + run.resolved
