"""MailSink: a real aiosmtpd server that records mail, its spool file and HTTP view."""

import json
import smtplib
import socket
from email.message import EmailMessage
from pathlib import Path

from fastapi.testclient import TestClient

from adapters.mail_sink import create_mail_view_app
from tests.conftest import started_mail_sink


def send(port: int, *, subject: str, body: str, reference: str) -> None:
    email = EmailMessage()
    email["From"] = "noreply@liaison.example.org"
    email["To"] = "a@example.org, b@example.org"
    email["Subject"] = subject
    email["X-Liaison-Reference"] = reference
    email.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(email)


def test_records_messages_and_appends_them_to_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "mail.jsonl"
    with started_mail_sink(spool=str(spool)) as sink:
        port = sink.port
        send(port, subject="One", body="first", reference="r-1")
        send(port, subject="Two", body="second", reference="r-2")

        first, second = sink.messages()

    assert first.rcpt_tos == ["a@example.org", "b@example.org"]
    assert (first.subject, first.body.strip(), first.reference) == ("One", "first", "r-1")
    assert second.headers["X-Liaison-Reference"] == "r-2"
    lines = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [(line["subject"], line["reference"]) for line in lines] == [
        ("One", "r-1"),
        ("Two", "r-2"),
    ]
    assert lines[0]["rcpt_tos"] == ["a@example.org", "b@example.org"]
    assert lines[0]["received_at"].endswith("+00:00")


def test_stops_listening_and_can_start_again() -> None:
    with started_mail_sink() as sink:
        port = sink.port

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0

    sink.start()
    try:
        send(port, subject="Back", body="again", reference="r-3")
        assert [m.subject for m in sink.messages()] == ["Back"]
    finally:
        sink.stop()


def test_http_view_lists_messages_as_json_and_escaped_html() -> None:
    with started_mail_sink() as sink:
        port = sink.port
        send(port, subject="<script>alert(1)</script>", body="a & b", reference="r-4")
        client = TestClient(create_mail_view_app(sink))

        listed = client.get("/messages")
        page = client.get("/")
        cleared = client.delete("/messages")

        assert sink.messages() == []

    assert listed.status_code == 200
    [item] = listed.json()
    assert item["subject"] == "<script>alert(1)</script>"
    assert item["reference"] == "r-4"
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert "a &amp; b" in page.text
    assert cleared.status_code == 204
