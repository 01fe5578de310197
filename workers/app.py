"""The Celery application: JSON only, late acks, no result backend.

`create_celery_app(settings)` builds it from the settings it is given; importing this module
reads no environment. The process that runs Celery builds its app once (workers/process.py).
"""

from typing import Any, Final

from celery import Celery

from gateway.logging import connect_celery_signals
from gateway.queue_names import Queue
from gateway.settings import Settings


def _transport_options(broker_url: str) -> dict[str, float]:
    if broker_url.startswith(("redis://", "rediss://")):
        # Longer than any task runs; waits longer than a minute live in the database, so no
        # ETA ever outlives it and gets delivered twice.
        return {"visibility_timeout": 3600}
    # The SQLAlchemy transport hands its options to create_engine: give it none.
    return {}


# Each task's queue; anything unlisted runs on the default, Queue.CONTROL.
TASK_ROUTES: Final[dict[str, dict[str, str]]] = {
    "liaison.deliver": {"queue": Queue.DELIVERY},
    "liaison.poll_practice": {"queue": Queue.POLL},
    "liaison.read_mesh_inbox": {"queue": Queue.POLL},
    "liaison.notify": {"queue": Queue.NOTIFY},
    "liaison.chase_up": {"queue": Queue.DELIVERY},
    "liaison.send_digest": {"queue": Queue.NOTIFY},
}


def _beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "relay-outbox": {
            "task": "liaison.relay_outbox",
            "schedule": settings.delivery.relay_interval_seconds,
            "options": {"expires": 10},
        },
        "sweep": {"task": "liaison.sweep", "schedule": 5.0, "options": {"expires": 30}},
        "poll-due": {
            "task": "liaison.poll_due",
            "schedule": settings.delivery.poll_interval_seconds,
            "options": {"expires": 30},
        },
        # GP adapters: Liaison's MESH inbox, and MESH's daily handshake.
        "mesh-inbox": {
            "task": "liaison.read_mesh_inbox",
            "schedule": settings.mesh.poll_interval_seconds,
            "options": {"expires": 60},
        },
        "mesh-handshake": {
            "task": "liaison.mesh_handshake",
            "schedule": settings.mesh.handshake_interval_seconds,
            "options": {"expires": 3600},
        },
        # Follow-up: chase silent practices, remind, send daily digests.
        "chase-due": {
            "task": "liaison.chase_due",
            "schedule": settings.chasing.check_seconds,
            "options": {"expires": 30},
        },
        "remind-collections": {
            "task": "liaison.remind_collections",
            "schedule": settings.collection.reminder_check_seconds,
            "options": {"expires": 30},
        },
        # Reminders that follow the plan, copies, and the practitioner's follow-ups.
        "remind-plans": {
            "task": "liaison.remind_plans",
            "schedule": settings.reminders.check_seconds,
            "options": {"expires": 30},
        },
        # Booked GP appointments: did the service user attend (GP Connect read)?
        "check-attendance": {
            "task": "liaison.check_attendance",
            "schedule": settings.gpconnect.attendance_check_seconds,
            "options": {"expires": 60},
        },
        "digests-due": {
            "task": "liaison.digests_due",
            "schedule": settings.audience.digest_check_seconds,
            "options": {"expires": 30},
        },
        # Integration engineers: alert rules, each alert sent once.
        "check-alerts": {
            "task": "liaison.check_alerts",
            "schedule": settings.alerts.check_seconds,
            "options": {"expires": 30},
        },
    }


def create_celery_app(settings: Settings) -> Celery:
    """Liaison's Celery app on `settings`' broker, with its queues and beat schedule. The
    tasks (workers/tasks.py, Celery's shared tasks) join every app built here."""
    app = Celery("liaison", broker=settings.broker.url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        # A task is acknowledged after it finishes, and re-queued if its process dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=Queue.CONTROL,
        task_routes=TASK_ROUTES,
        broker_transport_options=_transport_options(settings.broker.url),
        broker_connection_retry_on_startup=True,
        # Flower and `celery events` see the workers; tasks as sent only when asked
        # (LIAISON_BROKER__TASK_SENT_EVENTS): each costs a broker round trip per published task.
        worker_send_task_events=True,
        task_send_sent_event=settings.broker.task_sent_events,
        worker_hijack_root_logger=False,
        beat_schedule=_beat_schedule(settings),
    )
    # JSON, redacted logs; the correlation id travels in task headers.
    connect_celery_signals()
    return app
