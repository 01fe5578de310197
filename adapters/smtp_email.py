"""Email to service users and practitioners over plain SMTP (stdlib `smtplib`).

Used with the local mail sink in the embedded profile and with any relay
(e.g. NHSmail SMTP, a provider's submission port) in production.
"""

import hashlib
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.notification import OutgoingMessage

# RFC 5322 dot-atom text without the dot edge cases; anything else is hashed so a
# Message-ID never carries characters a relay might rewrite or reject.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def message_id_for(reference: str, sender: str) -> str:
    """The Message-ID for a reference: the same reference always gives the same id,
    so a resend after an ambiguous failure can be recognised as a duplicate."""
    left = (
        reference if _SAFE_ID.match(reference) else hashlib.sha256(reference.encode()).hexdigest()
    )
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "liaison.invalid"
    return f"<liaison.{left}@{domain}>"


class SmtpEmailChannel:
    """A `NotificationChannel` that submits each message to one SMTP server."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        timeout: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout
        self._starttls = starttls
        self._username = username
        self._password = password

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The email as it will be sent. Raises PermanentAdapterError for input that
        can never form a valid message (e.g. a line break in the subject)."""
        email = EmailMessage()
        try:
            email["From"] = self._sender
            email["To"] = message.to
            email["Subject"] = message.subject
            email["Date"] = formatdate(usegmt=True)
            email["Message-ID"] = message_id_for(message.reference, self._sender)
            email["X-Liaison-Reference"] = message.reference
            # RFC 3834: stops out-of-office replies landing in an unattended mailbox.
            email["Auto-Submitted"] = "auto-generated"
            email.set_content(message.body)
        except (ValueError, TypeError) as exc:
            # The exception text can quote the header value (an address): keep it out.
            raise PermanentAdapterError(
                f"email for reference {message.reference} cannot be built: {type(exc).__name__}"
            ) from exc
        return email

    def send(self, message: OutgoingMessage) -> str:
        email = self.build(message)
        message_id = str(email["Message-ID"])
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            # str(exc) lists the refused addresses, so only the codes are reported.
            codes = sorted({code for code, _ in exc.recipients.values()})
            text = f"SMTP server refused the recipient (codes {codes})"
            if codes and all(400 <= code < 500 for code in codes):
                # 4xx on RCPT is "try later" (greylisting, mailbox busy), not a refusal.
                raise TransientAdapterError(text, status_code=codes[0]) from exc
            raise PermanentAdapterError(text, status_code=codes[0] if codes else None) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise TransientAdapterError(f"SMTP server disconnected: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            # Covers sender refused, DATA refused, HELO/connect refused and AUTH failures.
            # The reply text may echo an address, so only the code and class are reported.
            text = f"SMTP server replied {exc.smtp_code} ({type(exc).__name__})"
            if 400 <= exc.smtp_code < 500:
                raise TransientAdapterError(text, status_code=exc.smtp_code) from exc
            raise PermanentAdapterError(text, status_code=exc.smtp_code) from exc
        except smtplib.SMTPException as exc:
            # What is left is configuration the server will never accept (no STARTTLS,
            # no AUTH, no SMTPUTF8): asking again will not help.
            raise PermanentAdapterError(f"SMTP cannot send: {exc}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentAdapterError(f"SMTP TLS certificate rejected: {exc.reason}") from exc
        except OSError as exc:
            # Connection refused, reset, DNS failure, timeout (TimeoutError is an OSError).
            raise TransientAdapterError(
                f"SMTP server {self._host}:{self._port} unreachable: {type(exc).__name__}"
            ) from exc
        return message_id
