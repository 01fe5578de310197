"""A local SMTP server that keeps every message it receives (dev and tests).

`MailSink` runs a real aiosmtpd server in a background thread, so `SmtpEmailChannel`
is exercised over a real SMTP conversation. Received messages are kept in memory
and, optionally, appended as JSON lines to a spool file so other processes (the
e2e tests, the human view) can read them. `create_mail_view_app` shows them over HTTP: for
a person, with long lines wrapped and repeated identical messages shown once with a count.

Run: `python -m adapters.standins.mail_sink --smtp-port 8025 --http-port 8027 --spool mail.jsonl`.
"""

import argparse
import html
import json
import textwrap
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    body: str
    headers: dict[str, str]
    received_at: str
    message_id: str | None = None
    reference: str | None = None  # the X-Liaison-Reference header

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _parse(mail_from: str, rcpt_tos: list[str], raw: bytes) -> ReceivedMail:
    # CRLF is SMTP's wire format, not part of the text the sender wrote.
    parsed = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=default_policy)
    assert isinstance(parsed, EmailMessage)  # guaranteed by policy=default
    part = parsed.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if isinstance(part, EmailMessage) else ""
    # Later duplicates win; callers that need every Received: line can re-parse.
    headers = {name: str(value) for name, value in parsed.items()}
    return ReceivedMail(
        mail_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        subject=str(parsed.get("Subject", "")),
        body=body,
        headers=headers,
        received_at=datetime.now(UTC).isoformat(),
        message_id=str(parsed["Message-ID"]) if parsed["Message-ID"] else None,
        reference=str(parsed["X-Liaison-Reference"]) if parsed["X-Liaison-Reference"] else None,
    )


class _Handler:
    """aiosmtpd handler; its hooks run on the controller's event-loop thread."""

    def __init__(self, sink: "MailSink") -> None:
        self._sink = sink

    async def handle_RCPT(  # noqa: N802 (name fixed by aiosmtpd)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self._sink.refusal_for(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (name fixed by aiosmtpd)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self._sink.record(_parse(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 Message accepted for delivery"


class MailSink:
    """A real SMTP server on (host, port) that records what it receives.

    Thread-safe: the SMTP thread writes while tests and the HTTP view read.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8025, spool: str | None = None):
        self.host = host
        self.port = port
        self._spool = Path(spool) if spool else None
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._refusals: dict[str, str] = {}
        self._controller: Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("mail sink already running")
        # A Controller closes its event loop on stop, so each start needs a new one.
        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, enable_SMTPUTF8=True
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "MailSink":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)
            if self._spool is not None:
                with self._spool.open("a", encoding="utf-8") as spool:
                    spool.write(json.dumps(mail.to_json(), sort_keys=True) + "\n")

    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        """Forget received messages and recipient refusals (not the spool file)."""
        with self._lock:
            self._messages.clear()
            self._refusals.clear()

    def refuse(self, address: str, reply: str = "550 5.1.1 Mailbox unavailable") -> None:
        """Answer RCPT TO for `address` with `reply` (e.g. "450 4.2.1 Try later")."""
        with self._lock:
            self._refusals[address.lower()] = reply

    def refusal_for(self, address: str) -> str | None:
        with self._lock:
            return self._refusals.get(address.lower())


# RFC 5322 section 2.1.1: lines SHOULD be no more than 78 characters; the view wraps to it
# so a message reads as a mail client would show it, not as one line across the screen.
WRAP_WIDTH = 78


def wrap_body(body: str, width: int = WRAP_WIDTH) -> str:
    """`body` with each line longer than `width` wrapped at spaces, keeping its indent.
    A URL (or any word) longer than the width stays whole on a line of its own, and is never
    split at a hyphen, so it can still be copied or followed."""
    lines: list[str] = []
    for line in body.splitlines():
        if len(line) <= width:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lines += textwrap.wrap(
            line,
            width=width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class MailGroup:
    """Identical messages (same sender, recipients, subject and body) shown as one."""

    mail: ReceivedMail  # the latest of them
    count: int
    first_received_at: str
    references: list[str]


def group_repeats(messages: Iterable[ReceivedMail]) -> list[MailGroup]:
    """`messages` (oldest first) as groups of identical ones, the most recent group first.
    A retry or a repeated demo sends the same message again; listing each copy buries the
    one message that differs."""
    groups: dict[tuple[str, tuple[str, ...], str, str], list[ReceivedMail]] = {}
    for mail in messages:
        key = (mail.mail_from, tuple(mail.rcpt_tos), mail.subject, mail.body)
        # Re-inserted on each copy, so the dict ends with the group received most recently.
        groups[key] = [*groups.pop(key, []), mail]
    ordered = reversed(groups.values())
    return [
        MailGroup(
            mail=same[-1],
            count=len(same),
            first_received_at=same[0].received_at,
            references=list(dict.fromkeys(m.reference for m in same if m.reference)),
        )
        for same in ordered
    ]


def _group_html(group: MailGroup) -> str:
    mail = group.mail
    first = html.escape(group.first_received_at)
    times = "\N{MULTIPLICATION SIGN}"
    repeats = f" <b>{times}{group.count}</b> (first at {first})" if group.count > 1 else ""
    row = "<li><p><b>{subject}</b> to {to} at {at}{repeats} (ref {ref})</p><pre>{body}</pre></li>"
    return row.format(
        subject=html.escape(mail.subject),
        to=html.escape(", ".join(mail.rcpt_tos)),
        at=html.escape(mail.received_at),
        repeats=repeats,
        ref=html.escape(", ".join(group.references) or "-"),
        body=html.escape(wrap_body(mail.body)),
    )


def create_mail_view_app(sink: MailSink) -> FastAPI:
    """A read-only window onto the sink: `GET /messages` (JSON), `GET /` (HTML)."""
    app = FastAPI(title="Liaison mail sink", docs_url=None, redoc_url=None)

    @app.get("/messages")
    def list_messages() -> list[dict[str, Any]]:
        return [mail.to_json() for mail in sink.messages()]

    @app.delete("/messages", status_code=204)
    def clear_messages() -> Response:
        sink.clear()
        return Response(status_code=204)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        # Every value is escaped: message bodies are untrusted input rendered as HTML.
        messages = sink.messages()
        rows = "".join(_group_html(group) for group in group_repeats(messages))
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Mail sink</title></head>"
            f"<body><h1>Mail sink ({len(messages)})</h1><ol>{rows}</ol></body></html>"
        )

    return app


def main(
    *, smtp_host: str, smtp_port: int, http_host: str, http_port: int, spool: str | None
) -> None:
    """Run the SMTP sink and its HTTP view until interrupted (Ctrl-C / SIGTERM)."""
    sink = MailSink(host=smtp_host, port=smtp_port, spool=spool)
    with sink:
        uvicorn.run(create_mail_view_app(sink), host=http_host, port=http_port, log_level="warning")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A local SMTP sink with an HTTP view.")
    parser.add_argument("--smtp-host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8027)
    parser.add_argument("--spool", default=None)
    args = parser.parse_args()
    main(
        smtp_host=args.smtp_host,
        smtp_port=args.smtp_port,
        http_host=args.http_host,
        http_port=args.http_port,
        spool=args.spool,
    )
