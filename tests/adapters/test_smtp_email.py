"""SmtpEmailChannel against a real SMTP server (the aiosmtpd-based MailSink)."""

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.notification import OutgoingMessage
from adapters.smtp_email import SmtpEmailChannel
from adapters.standins.mail_sink import MailSink
from tests.conftest import refusing_port, started_mail_sink

SENDER = "Liaison <noreply@liaison.example.org>"


def message(**overrides: Any) -> OutgoingMessage:
    fields: dict[str, Any] = {
        "reference": "ntf-0001",
        "kind": "ready-to-collect",
        "to": "service.user@example.org",
        "subject": "Your prescription is ready",
        "body": "Your prescription is ready to collect.\nReply STOP to opt out.",
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    with started_mail_sink() as running:
        yield running


@pytest.fixture
def channel(sink: MailSink) -> SmtpEmailChannel:
    sink.clear()
    return SmtpEmailChannel(host=sink.host, port=sink.port, sender=SENDER, timeout=5)


def test_email_arrives_with_subject_body_and_reference(
    sink: MailSink, channel: SmtpEmailChannel
) -> None:
    message_id = channel.send(message())

    [mail] = sink.messages()
    assert mail.rcpt_tos == ["service.user@example.org"]
    assert mail.mail_from == "noreply@liaison.example.org"
    assert mail.subject == "Your prescription is ready"
    assert mail.body == ("Your prescription is ready to collect.\nReply STOP to opt out.\n")
    assert mail.reference == "ntf-0001"
    assert mail.headers["X-Liaison-Reference"] == "ntf-0001"
    assert mail.headers["Auto-Submitted"] == "auto-generated"
    assert mail.message_id == message_id == "<liaison.ntf-0001@liaison.example.org>"


def test_message_id_is_stable_per_reference_so_resends_can_be_deduplicated(
    sink: MailSink, channel: SmtpEmailChannel
) -> None:
    first = channel.send(message(reference="ntf-0002"))
    again = channel.send(message(reference="ntf-0002"))
    other = channel.send(message(reference="ntf/with spaces & symbols"))

    assert first == again
    assert other != first
    assert other.startswith("<liaison.")
    assert " " not in other
    assert [m.message_id for m in sink.messages()] == [first, again, other]
    assert sink.messages()[2].reference == "ntf/with spaces & symbols"


def test_smtp_server_down_is_transient() -> None:
    with refusing_port() as port:
        channel = SmtpEmailChannel(host="127.0.0.1", port=port, sender=SENDER, timeout=2)

        with pytest.raises(TransientAdapterError, match="unreachable"):
            channel.send(message())


def test_server_that_never_greets_times_out_as_transient() -> None:
    with socket.socket() as listener:
        # The kernel completes the handshake from the backlog; nobody ever answers.
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        channel = SmtpEmailChannel(host="127.0.0.1", port=port, sender=SENDER, timeout=0.3)

        with pytest.raises(TransientAdapterError, match="timed out"):
            channel.send(message())


def test_server_that_hangs_up_is_transient() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def hang_up() -> None:
            conn, _ = listener.accept()
            conn.close()

        closer = threading.Thread(target=hang_up)
        closer.start()
        channel = SmtpEmailChannel(
            host="127.0.0.1", port=listener.getsockname()[1], sender=SENDER, timeout=2
        )
        with pytest.raises(TransientAdapterError):
            channel.send(message())
        closer.join(timeout=2)


def test_recipient_refused_with_5xx_is_permanent_and_does_not_leak_the_address(
    sink: MailSink, channel: SmtpEmailChannel
) -> None:
    sink.refuse("gone@example.org", "550 5.1.1 No such mailbox")

    with pytest.raises(PermanentAdapterError) as caught:
        channel.send(message(to="gone@example.org"))

    assert caught.value.status_code == 550
    assert "gone@example.org" not in str(caught.value)
    assert sink.messages() == []


def test_recipient_deferred_with_4xx_is_transient(
    sink: MailSink, channel: SmtpEmailChannel
) -> None:
    sink.refuse("busy@example.org", "450 4.2.1 Mailbox busy, try later")

    with pytest.raises(TransientAdapterError) as caught:
        channel.send(message(to="busy@example.org"))

    assert caught.value.status_code == 450
    assert sink.messages() == []


def test_header_injection_is_refused_before_connecting(
    sink: MailSink, channel: SmtpEmailChannel
) -> None:
    with pytest.raises(PermanentAdapterError, match="cannot be built"):
        channel.send(message(subject="Hello\r\nBcc: everyone@example.org"))

    assert sink.messages() == []
