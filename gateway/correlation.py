"""The correlation id that joins a request, its delivery and its notifications in the logs.

It starts at the API (taken from `X-Correlation-ID` when the caller sends a well-formed one,
otherwise new), is written on outbox rows, and travels in Celery task headers. It lives in
structlog's context variables, so every log line in the block carries it. A module of its own
so the store can read it without importing the logging set-up (which imports the store).
"""

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

CORRELATION_HEADER = "X-Correlation-ID"
# Celery already uses `correlation_id` for the task id (AMQP property), hence our own name.
TASK_HEADER = "liaison_correlation_id"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def accepted_correlation_id(value: str | None) -> str:
    """The caller's id if it is safe to echo and log, otherwise a new one."""
    if value and _WELL_FORMED_ID.match(value):
        return value
    return new_correlation_id()


def current_correlation_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("correlation_id")
    return str(value) if value else None


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[str]:
    """Bind a correlation id for the duration of a block (None: keep the current one, or
    start a new one)."""
    cid = correlation_id or current_correlation_id() or new_correlation_id()
    tokens = structlog.contextvars.bind_contextvars(correlation_id=cid)
    try:
        yield cid
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
