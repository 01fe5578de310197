"""The Celery application: JSON only, late acks, no result backend."""

from celery import Celery

from gateway.settings import get_settings

QUEUES = ("delivery", "poll", "notify", "control")


def _transport_options(broker_url: str) -> dict[str, float]:
    if broker_url.startswith(("redis://", "rediss://")):
        # Longer than any task runs; waits longer than a minute live in the database, so no
        # ETA ever outlives it and gets delivered twice.
        return {"visibility_timeout": 3600}
    # The SQLAlchemy transport hands its options to create_engine: give it none.
    return {}


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("liaison", broker=settings.broker_url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        # A task is acknowledged after it finishes, and re-queued if its process dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="control",
        task_routes={
            "liaison.deliver": {"queue": "delivery"},
            "liaison.poll_practice": {"queue": "poll"},
            "liaison.notify": {"queue": "notify"},
        },
        broker_transport_options=_transport_options(settings.broker_url),
        broker_connection_retry_on_startup=True,
        # Flower and `celery events` see the workers.
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "relay-outbox": {
                "task": "liaison.relay_outbox",
                "schedule": settings.relay_interval_seconds,
                "options": {"expires": 10},
            },
            "sweep": {"task": "liaison.sweep", "schedule": 5.0, "options": {"expires": 30}},
            "poll-due": {
                "task": "liaison.poll_due",
                "schedule": settings.poll_interval_seconds,
                "options": {"expires": 30},
            },
        },
    )
    return app


app = make_celery()
