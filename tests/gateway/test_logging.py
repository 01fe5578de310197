"""Logs: one JSON object per line, a correlation id from the API through Celery, and no NHS
number, phone number, email or name anywhere in them."""

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
from kombu import Connection

from gateway.cli import sample_recommendation
from gateway.correlation import CORRELATION_HEADER, TASK_HEADER, correlation
from gateway.logging import configure_logging, connect_celery_signals, get_logger
from gateway.security.redaction import known_names, redact_text, remember_names_in
from gateway.store.models import OutboxMessage

SECRETS = ("9434765919", "943 476 5919", "+447700900123", "07700 900123", "sam@example.org")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Configure the real logging for the test, then put back pytest's."""
    root = logging.getLogger()
    saved = (
        root.handlers[:],
        root.level,
        structlog.get_config(),
        sys.excepthook,
        threading.excepthook,
    )
    named = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery")
    }
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.configure(**saved[2])
        sys.excepthook, threading.excepthook = saved[3], saved[4]
        for name, (handlers, propagate) in named.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate


def _parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_messages_fields_and_exceptions_are_redacted(log_lines: io.StringIO) -> None:
    remember_names_in({"service_user": {"name": {"given": "Sam", "family": "Taylor"}}})
    log = get_logger("liaison.test")

    log.info("texting Sam Taylor on +447700900123", nhs_number="9434765919", to="sam@example.org")
    log.warning("body", body={"service_user": {"nhs_number": "943 476 5919"}, "note": "Sam"})
    logging.getLogger("uvicorn.error").error("GP refused %s (%s)", "9434765919", "07700 900123")
    try:
        raise ValueError("no GP record for 943 476 5919, Sam TAYLOR, sam@example.org")
    except ValueError:
        log.exception("delivery failed")
        logging.getLogger("celery").exception("task raised")

    text = log_lines.getvalue()
    lines = _parsed(log_lines)
    assert len(lines) == 5
    for secret in (*SECRETS, "Sam", "Taylor", "TAYLOR"):
        assert secret not in text, secret
    assert lines[0]["event"] == "texting [name] [name] on [phone]"
    assert lines[0]["nhs_number"] == "[redacted]"
    assert lines[0]["to"] == "[email]"
    assert "[nhs-number]" in lines[2]["event"]
    assert (
        "ValueError: no GP record for [nhs-number], [name] [name], [email]" in lines[3]["exception"]
    )
    assert "ValueError" in lines[4]["exception"]


def test_uncaught_exceptions_in_threads_are_logged_redacted(log_lines: io.StringIO) -> None:
    def fail() -> None:
        raise RuntimeError("lost 9434765919")

    thread = threading.Thread(target=fail)
    thread.start()
    thread.join()

    assert "9434765919" not in log_lines.getvalue()
    assert "uncaught exception in a thread" in log_lines.getvalue()


def test_names_in_request_bodies_are_redacted_even_when_the_request_is_refused(
    api: TestClient, log_lines: io.StringIO
) -> None:
    payload = sample_recommendation("Y00001")
    payload["service_user"]["name"] = {"given": "Branwen", "family": "Kittow"}
    payload["service_user"]["nhs_number"] = "1234567890"  # fails the check digit: refused

    assert api.post("/v1/recommendations", json=payload).status_code == 422
    get_logger("liaison.test").error("could not place Branwen Kittow")

    assert "Branwen" not in log_lines.getvalue()
    assert "Kittow" not in log_lines.getvalue()


def test_access_log_is_json_with_the_route_not_the_query(
    api: TestClient, log_lines: io.StringIO
) -> None:
    api.get("/v1/recommendations/9434765919", params={"patient": "9434765919"})

    access = [line for line in _parsed(log_lines) if line["logger"] == "liaison.access"]
    assert access[-1]["route"] == "/v1/recommendations/{recommendation_id}"
    assert access[-1]["status"] == 404
    assert access[-1]["client_id"] == "demo-app"
    assert "9434765919" not in log_lines.getvalue()


def test_correlation_id_is_echoed_reused_and_written_on_the_outbox(api: TestClient) -> None:
    fresh = api.get("/healthz")
    assert len(fresh.headers[CORRELATION_HEADER]) == 32

    mine = api.get("/healthz", headers={CORRELATION_HEADER: "case-app-req-0001"})
    assert mine.headers[CORRELATION_HEADER] == "case-app-req-0001"
    hostile = api.get("/healthz", headers={CORRELATION_HEADER: "x\n9434765919" + "y" * 80})
    assert hostile.headers[CORRELATION_HEADER] != "x\n9434765919" + "y" * 80

    accepted = api.post(
        "/v1/recommendations",
        json=sample_recommendation("Y00001"),
        headers={CORRELATION_HEADER: "case-app-req-0002"},
    )
    assert accepted.status_code == 202
    with api.app.state.session_factory() as session:  # type: ignore[attr-defined]
        rows = session.query(OutboxMessage).all()
    assert {row.correlation_id for row in rows} == {"case-app-req-0002"}


def test_celery_tasks_carry_and_bind_the_correlation_id(log_lines: io.StringIO) -> None:
    connect_celery_signals()
    app = Celery("correlation-test", broker="memory://")
    app.conf.task_default_queue = "correlation-test"
    seen: list[str | None] = []

    @app.task(name="correlation.echo")
    def echo() -> None:
        seen.append(structlog.contextvars.get_contextvars().get("correlation_id"))
        get_logger("liaison.test").info("in the task")

    with correlation("request-abc-123"):
        app.send_task("correlation.echo")
    with Connection("memory://") as connection:
        queue = connection.SimpleQueue("correlation-test")
        message = queue.get(timeout=5)
        headers = message.headers
        message.ack()
        queue.close()
    assert headers[TASK_HEADER] == "request-abc-123"

    echo.apply(headers={TASK_HEADER: headers[TASK_HEADER]})

    assert seen == ["request-abc-123"]
    in_task = [line for line in _parsed(log_lines) if line["event"] == "in the task"]
    assert in_task[0]["correlation_id"] == "request-abc-123"
    assert in_task[0]["task"] == "correlation.echo"


def test_patterns_leave_ids_and_times_alone() -> None:
    known_names.clear()
    text = (
        "delivery 9056f9d6-f0cd-4334-bbcf-e6049a02b315 to Y00001 at 2026-11-26T00:45:45Z "
        "took 12.5 ms; attempt 3; port 8000"
    )
    assert redact_text(text) == text
