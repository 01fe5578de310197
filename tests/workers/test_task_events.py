"""Workers tell a monitor (Flower, `celery events`) what they run; the task-sent event, a
broker round trip more for every published task, only when asked for."""

import pytest

from gateway.settings import Settings
from workers.app import create_celery_app


def test_workers_send_task_events_but_not_task_sent_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIAISON_BROKER__TASK_SENT_EVENTS", raising=False)
    app = create_celery_app(Settings())
    assert app.conf.worker_send_task_events is True
    assert app.conf.task_send_sent_event is False


def test_task_sent_events_can_be_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_BROKER__TASK_SENT_EVENTS", "true")
    assert create_celery_app(Settings()).conf.task_send_sent_event is True
