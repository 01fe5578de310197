"""Celery tasks: thin shells that take an id and call a plain function."""

from celery import Task

from workers import delivery, notifying, polling, relay
from workers.app import app
from workers.runtime import runtime

_TASK_FOR_KIND = {"deliver": "liaison.deliver", "notify": "liaison.notify"}


def _publish(kind: str, ref_id: str) -> None:
    app.send_task(_TASK_FOR_KIND[kind], args=[ref_id])


@app.task(name="liaison.deliver", bind=True, max_retries=0)
def deliver(self: Task, delivery_id: str) -> str:
    return delivery.deliver(runtime(), delivery_id)


@app.task(name="liaison.notify", bind=True, max_retries=0)
def notify(self: Task, notification_id: str) -> str:
    return notifying.send_notification(runtime(), notification_id)


@app.task(name="liaison.poll_practice", max_retries=0)
def poll_practice(ods_code: str) -> int:
    return polling.poll_practice(runtime(), ods_code)


@app.task(name="liaison.poll_due", max_retries=0)
def poll_due() -> int:
    practices = polling.practices_to_poll(runtime())
    for ods_code in practices:
        # One task per practice: a slow practice holds up only its own poll.
        app.send_task("liaison.poll_practice", args=[ods_code], expires=60)
    return len(practices)


@app.task(name="liaison.relay_outbox", max_retries=0)
def relay_outbox() -> int:
    return relay.relay_outbox(runtime(), _publish)


@app.task(name="liaison.sweep", max_retries=0)
def sweep() -> int:
    return relay.sweep(runtime(), _publish)
