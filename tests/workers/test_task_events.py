"""Workers tell a monitor (Flower, `celery events`) what they run; the task-sent event, a
broker round trip more for every published task, only when asked for."""

from collections.abc import Iterator

import pytest

from gateway.settings import get_settings
from workers.app import make_celery


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()  # read again from the environment the test sets
    yield
    get_settings.cache_clear()


def test_workers_send_task_events_but_not_task_sent_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIAISON_BROKER__TASK_SENT_EVENTS", raising=False)
    app = make_celery()
    assert app.conf.worker_send_task_events is True
    assert app.conf.task_send_sent_event is False


def test_task_sent_events_can_be_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_BROKER__TASK_SENT_EVENTS", "true")
    assert make_celery().conf.task_send_sent_event is True
