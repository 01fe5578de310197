"""Routine repeating log records summarised, so probes and polls do not flood the log.

A load balancer or Kubernetes probes `/healthz` and `/readyz` every few seconds, Prometheus
scrapes `/metrics`, the console polls a delivery's state every second, and the worker polls
each practice with a request in flight every second: at one line each they bury the lines
someone is reading the log for. `RepeatFilter`, on the JSON handler (`gateway.logging`),
lets the first of each kind through, then holds the others back and writes one summary per
window in their place ("GET /healthz 200", a multiplication sign and 57, "in the last 60 s")
on the first record after the window ends. Every other record passes untouched, and so does
any routine record that reports a problem (status 400 or more, a task that did not succeed,
WARNING or above).
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

WINDOW_SECONDS: Final = 60.0
TIMES: Final = "\N{MULTIPLICATION SIGN}"

# Route templates (never raw paths) of the access lines that repeat on a timer.
ROUTINE_ROUTES: Final = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        # gateway/api/web/static/console/console.js polls these every second.
        "/console/deliveries/{delivery_id}/state",
        "/console/replays/{batch_id}/progress",
    }
)
# Beat's periodic tasks (workers/app.py's schedule) and the per-practice poll they start.
ROUTINE_TASKS: Final = frozenset(
    {
        "liaison.relay_outbox",
        "liaison.sweep",
        "liaison.poll_due",
        "liaison.poll_practice",
        "liaison.read_mesh_inbox",
        "liaison.mesh_handshake",
        "liaison.chase_due",
        "liaison.remind_collections",
        "liaison.remind_plans",
        "liaison.check_attendance",
        "liaison.digests_due",
        "liaison.check_alerts",
    }
)
# Fields that describe one request or task run, not the summarised many.
_ONE_RUN_FIELDS: Final = ("duration_ms", "correlation_id", "task_id", "client_id")


@dataclass
class _Window:
    started: float
    held: int = 0  # records held back since `started`


def routine_kind(record: logging.LogRecord) -> str | None:
    """What a routine, successful, repeating record is ("GET /healthz 200"), or None for any
    other record. structlog's records carry their event as a dict in `msg`."""
    event = record.msg
    if record.levelno >= logging.WARNING or not isinstance(event, Mapping):
        return None
    if record.name == "liaison.access" and event.get("event") == "request":
        status = event.get("status")
        if event.get("route") in ROUTINE_ROUTES and isinstance(status, int) and status < 400:
            return f"{event.get('method')} {event['route']} {status}"
    if (
        record.name == "liaison.tasks"
        and event.get("event") == "task finished"
        and event.get("task") in ROUTINE_TASKS
        and event.get("state") == "SUCCESS"
    ):
        return f"task {event['task']} succeeded"
    return None


class RepeatFilter(logging.Filter):
    """Per kind of routine record: the first passes, the rest of its window are held back,
    and the first one after the window becomes the summary of those held. `clock` is a
    monotonic clock in seconds (a fake one in tests). Thread-safe: the API's and the
    worker's threads log through one handler."""

    def __init__(
        self,
        *,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = routine_kind(record)
        if kind is None:
            return True
        now = self._clock()
        with self._lock:
            window = self._windows.get(kind)
            if window is None:
                self._windows[kind] = _Window(now)
                return True
            elapsed = now - window.started
            if elapsed < self.window_seconds:
                window.held += 1
                return False
            held, self._windows[kind] = window.held, _Window(now)
        if held:
            # Held back plus this one: every such record since the window began.
            _summarise(record, kind, held + 1, elapsed)
        return True


def _summarise(record: logging.LogRecord, kind: str, count: int, elapsed: float) -> None:
    fields: Mapping[str, Any] = record.msg if isinstance(record.msg, Mapping) else {}
    event = {name: value for name, value in fields.items() if name not in _ONE_RUN_FIELDS}
    seconds = round(elapsed)
    event.update(
        event=f"{kind} {TIMES}{count} in the last {seconds} s", repeated=count, seconds=seconds
    )
    record.msg = event
