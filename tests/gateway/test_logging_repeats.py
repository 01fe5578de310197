"""Probes and polls do not flood the log: the first of each kind is logged, then one summary
per window (the kind, its count, the seconds); everything else, and any problem, is logged
as it happens. A fake clock moves the window: nothing sleeps."""

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from celery import Celery
from fastapi.testclient import TestClient

from gateway.log_repeats import ROUTINE_TASKS, RepeatFilter
from gateway.logging import configure_logging, connect_celery_signals, get_logger
from gateway.settings import get_settings

TIMES = "\N{MULTIPLICATION SIGN}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def log_lines(clock: FakeClock) -> Iterator[io.StringIO]:
    """The real logging, with a 60 s window on the fake clock; pytest's put back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    excepthooks = (sys.excepthook, threading.excepthook)
    named = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery")
    }
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, repeats=RepeatFilter(window_seconds=60, clock=clock))
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.configure(**saved[2])
        sys.excepthook, threading.excepthook = excepthooks
        for name, (handlers, propagate) in named.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate


def _lines(stream: io.StringIO, logger: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in parsed if line["logger"] == logger]


def _access(route: str, status: int = 200, *, level: str = "info") -> None:
    log = get_logger("liaison.access")
    getattr(log, level)("request", method="GET", route=route, status=status, duration_ms=1.0)


def test_health_probes_are_logged_once_then_summarised_each_window(
    api: TestClient, log_lines: io.StringIO, clock: FakeClock
) -> None:
    for _ in range(61):  # one a second for a minute, then the first of the next minute
        assert api.get("/healthz").status_code == 200
        clock.now += 1
    assert api.get("/healthz").status_code == 200  # within the new window: held back

    probes = [line for line in _lines(log_lines, "liaison.access") if line["route"] == "/healthz"]
    first, summary = probes
    assert first["event"] == "request"
    assert first["status"] == 200
    assert summary["event"] == f"GET /healthz 200 {TIMES}60 in the last 60 s"
    assert (summary["repeated"], summary["seconds"]) == (60, 60)
    assert "duration_ms" not in summary  # it was one request's, not the minute's


def test_console_polls_and_readiness_probes_are_summarised_each_on_its_own(
    log_lines: io.StringIO, clock: FakeClock
) -> None:
    poll = "/console/deliveries/{delivery_id}/state"
    for _ in range(30):
        _access(poll)
        _access("/readyz")
        _access("/metrics")
        clock.now += 2
    _access(poll)

    events = [line["event"] for line in _lines(log_lines, "liaison.access")]
    assert events == [
        "request",
        "request",
        "request",
        f"GET {poll} 200 {TIMES}30 in the last 60 s",
    ]


def test_every_other_line_is_logged_as_it_happens(log_lines: io.StringIO, clock: FakeClock) -> None:
    for _ in range(5):
        _access("/v1/recommendations/{recommendation_id}")
        get_logger("liaison.test").info("delivered")
        clock.now += 1

    assert len(_lines(log_lines, "liaison.access")) == 5
    assert [line["event"] for line in _lines(log_lines, "liaison.test")] == ["delivered"] * 5


def test_a_failing_probe_or_a_warning_is_always_logged(
    log_lines: io.StringIO, clock: FakeClock
) -> None:
    _access("/readyz")
    for _ in range(3):
        clock.now += 1
        _access("/readyz", 503)  # a dependency is down: each one matters
        _access("/healthz", 200, level="warning")

    lines = _lines(log_lines, "liaison.access")
    assert [line["status"] for line in lines] == [200, 503, 200, 503, 200, 503, 200]
    assert all(line["event"] == "request" for line in lines)


def test_routine_tasks_are_summarised_and_a_failed_one_is_logged(
    log_lines: io.StringIO, clock: FakeClock
) -> None:
    connect_celery_signals()
    app = Celery("repeats-test", broker="memory://")

    @app.task(name="liaison.poll_practice")  # type: ignore[untyped-decorator]
    def poll_practice(fail: bool = False) -> None:
        if fail:
            raise RuntimeError("the practice did not answer")

    for _ in range(60):
        poll_practice.apply()
        clock.now += 1
    poll_practice.apply(kwargs={"fail": True})
    poll_practice.apply()

    finished = [
        (line["event"], line["state"])
        for line in _lines(log_lines, "liaison.tasks")
        if line["event"].startswith(("task finished", "task liaison.poll_practice"))
    ]
    assert finished == [
        ("task finished", "SUCCESS"),
        ("task finished", "FAILURE"),
        (f"task liaison.poll_practice succeeded {TIMES}60 in the last 60 s", "SUCCESS"),
    ]


def test_every_task_beat_runs_is_summarised() -> None:
    from workers.app import _beat_schedule

    scheduled = {entry["task"] for entry in _beat_schedule(get_settings()).values()}
    assert scheduled <= ROUTINE_TASKS
