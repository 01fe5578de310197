"""MailSink: a real aiosmtpd server that records mail, its spool file and HTTP view."""

import html
import json
import re
import smtplib
import socket
from email.message import EmailMessage
from pathlib import Path

from fastapi.testclient import TestClient

from adapters.standins.mail_sink import MailSink, ReceivedMail, create_mail_view_app
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


def _mail(subject: str, body: str, reference: str, at: str) -> ReceivedMail:
    return ReceivedMail(
        mail_from="noreply@liaison.example.org",
        rcpt_tos=["gp@example.org"],
        subject=subject,
        body=body,
        headers={},
        received_at=at,
        reference=reference,
    )


def _bodies(page: str) -> list[str]:
    return [html.unescape(body) for body in re.findall(r"<pre>(.*?)</pre>", page, re.DOTALL)]


def test_http_view_wraps_long_lines_at_78_and_keeps_urls_whole() -> None:
    url = "https://www.sps.nhs.uk/articles/managing-specific-interactions-with-smoking/?a=1&b=2"
    paragraph = (
        "Tobacco smoke speeds up clozapine's metabolism, so after stopping smoking its levels "
        f"can rise; see {url} for the advice, and take a baseline level before the quit date."
    )
    sink = MailSink()
    sink.record(_mail("Advice", f"Dear Dr Okafor,\n{paragraph}\n", "r-5", "2026-01-05T10:00"))

    [body] = _bodies(TestClient(create_mail_view_app(sink)).get("/").text)

    lines = body.splitlines()
    assert lines[0] == "Dear Dr Okafor,"
    assert url in lines  # on a line of its own, whole, not split at a hyphen
    assert all(len(line) <= 78 for line in lines if line != url)
    assert " ".join(lines[1:]).split() == paragraph.split()  # nothing lost or reordered


def test_http_view_shows_repeated_identical_messages_once_with_a_count() -> None:
    sink = MailSink()
    for n, at in enumerate(("10:00", "10:01", "10:02"), start=1):
        sink.record(_mail("Ready to collect", "Same words", f"r-{n}", f"2026-01-05T{at}"))
    sink.record(_mail("Rejected", "Other words", "r-9", "2026-01-05T10:03"))
    client = TestClient(create_mail_view_app(sink))

    page = client.get("/").text

    assert page.count("<li>") == 2
    assert "\N{MULTIPLICATION SIGN}3" in page
    assert "first at 2026-01-05T10:00" in page
    assert "r-1, r-2, r-3" in page
    assert page.index("Rejected") < page.index("Ready to collect")  # most recent first
    assert len(client.get("/messages").json()) == 4  # the JSON still lists every copy
