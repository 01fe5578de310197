"""Structured JSON logs, one line per event, with personal data removed.

Every process (API, worker, beat, CLI) calls `configure_logging` once. structlog loggers and
the standard library's (uvicorn, Celery, SQLAlchemy, httpx) go through the same chain:
context variables (the correlation id) -> level and timestamp -> exceptions rendered to
text -> redaction (gateway.security.redaction) -> JSON. Because redaction runs after the
exception is rendered, a traceback quoting a patient's details is cleaned like a message.

The correlation id starts at the API (taken from `X-Correlation-ID` when the caller sends a
well-formed one, otherwise new), is written on outbox rows, and travels in Celery task
headers (`correlation_id`), so one id joins the request, the delivery and the notification.
"""

import logging
import sys
import threading
import time
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import structlog

from gateway.correlation import (
    TASK_HEADER,
    accepted_correlation_id,
    current_correlation_id,
    new_correlation_id,
)
from gateway.log_repeats import RepeatFilter
from gateway.security.context import install_tracking
from gateway.security.redaction import redact_fields

# Chatty libraries stay at WARNING whatever Liaison's own level is; httpx would otherwise
# log every URL it calls.
_QUIET = ("httpx", "httpcore", "celery", "kombu", "amqp", "sqlalchemy", "uvicorn.access", "urllib3")


_configured = False
_celery_connected = False
_lock = threading.Lock()


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: every value, at any depth, through the redactor, except the
    structural fields Liaison sets itself (route, client id, status...)."""
    return redact_fields(event_dict)


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def json_formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_event,
            structlog.processors.JSONRenderer(),
        ],
    )


def configure_logging(
    level: str = "INFO", *, stream: Any = None, repeats: RepeatFilter | None = None
) -> None:
    """Route every log record of this process through the JSON, redacting chain. Probes and
    polls are summarised by `repeats` (gateway.log_repeats; a fake clock's in tests)."""
    global _configured
    with _lock:
        structlog.configure(
            processors=[
                *_shared_processors(),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(json_formatter())
        handler.addFilter(repeats or RepeatFilter())
        root = logging.getLogger()
        for existing in list(root.handlers):
            root.removeHandler(existing)
        root.addHandler(handler)
        root.setLevel(level)
        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)
        # uvicorn and Celery attach their own handlers; theirs would print unredacted text.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
            named = logging.getLogger(name)
            named.handlers.clear()
            named.propagate = True
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
        install_tracking()
        _configured = True


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    logging.getLogger("liaison").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    logging.getLogger("liaison").error(
        "uncaught exception in a thread",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def _is_routine(task: Any) -> bool:
    """Beat's periodic housekeeping (every second or so) is logged only when it fails."""
    try:
        schedule = task.app.conf.beat_schedule or {}
        return getattr(task, "name", None) in {entry["task"] for entry in schedule.values()}
    except (AttributeError, KeyError, TypeError):
        return False


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


def connect_celery_signals() -> None:
    """Carry the correlation id through Celery task headers and log each task's outcome.
    Called by the workers package when it builds its Celery app."""
    global _celery_connected
    with _lock:
        if _celery_connected:
            return
        _celery_connected = True
    from celery import signals

    log = get_logger("liaison.tasks")
    started: dict[str, float] = {}

    def _setup_logging(**_: Any) -> None:
        # Connecting here stops Celery from installing its own (plain-text) handlers.
        from gateway.settings import get_settings

        configure_logging(get_settings().log_level)

    def _stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
        if headers is not None and not headers.get(TASK_HEADER):
            headers[TASK_HEADER] = current_correlation_id() or new_correlation_id()

    def _bind(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        # A worker merges message headers into the request; an eager call keeps them apart.
        request = getattr(task, "request", None)
        headers = getattr(request, "headers", None) or {}
        cid = getattr(request, TASK_HEADER, None) or headers.get(TASK_HEADER)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            correlation_id=accepted_correlation_id(cid if isinstance(cid, str) else None),
            task=getattr(task, "name", None),
            task_id=task_id,
        )
        if task_id:
            started[task_id] = time.monotonic()

    def _done(
        task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
    ) -> None:
        begun = started.pop(task_id or "", None)
        routine = _is_routine(task) and state == "SUCCESS"
        (log.debug if routine else log.info)(
            "task finished",
            state=state,
            duration_ms=round((time.monotonic() - begun) * 1000, 1) if begun else None,
        )
        structlog.contextvars.clear_contextvars()

    # Celery's signals are untyped; connecting by call keeps these handlers type-checked.
    signals.setup_logging.connect(_setup_logging, weak=False)
    signals.before_task_publish.connect(_stamp, weak=False)
    signals.task_prerun.connect(_bind, weak=False)
    signals.task_postrun.connect(_done, weak=False)
