"""SMS and email to service users through GOV.UK Notify, using its official client.

In dev and tests `base_url` points at `adapters.standins.notify_sink`, a local server that
speaks the same documented v2 API; the live service is never needed to run Liaison.

Notify does not de-duplicate on `reference`. When a send times out after Notify
accepted it, a blind resend would text the service user twice, so by default the
channel first asks Notify whether a notification with this reference exists and,
if so, returns its id instead of sending again.
"""

from collections.abc import Mapping
from typing import Any, Literal

import requests
from notifications_python_client.errors import APIError, HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.http_status import error_for_status
from adapters.notification import OutgoingMessage

# Notify's documented rate limit is per minute and its 429 carries no Retry-After.
RATE_LIMIT_RETRY_AFTER = 60.0


def _error_text(exc: APIError) -> str:
    """Notify's own error messages, e.g. "Invalid token: API key not found".

    Notify's messages name the offending field rather than quoting its value, so they
    can go into attempt records without carrying a phone number or address.
    """
    if exc.response is None:
        return "request failed"
    try:
        errors = exc.response.json()["errors"]
        return "; ".join(f"{e['error']}: {e['message']}" for e in errors)
    except (AttributeError, TypeError, ValueError, KeyError):
        return str(exc.message) if isinstance(exc.message, str) else "request failed"


def _translate(exc: APIError) -> Exception:
    if exc.response is None:
        # The client reports connection errors and timeouts as a response-less 503.
        return TransientAdapterError(f"GOV.UK Notify unreachable: {exc.__cause__!r}")
    status = exc.status_code
    text = f"GOV.UK Notify {status}: {_error_text(exc)}"
    return error_for_status(status, text, default_retry_after=RATE_LIMIT_RETRY_AFTER)


class GovUkNotifyChannel:
    """A `NotificationChannel` for one kind of address: phone numbers or email addresses.

    Not thread-safe (the official client shares one `requests.Session`): use one
    instance per worker thread or process.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        templates: Mapping[str, str],
        kind: Literal["sms", "email"],
        timeout: float = 30.0,
        dedupe_by_reference: bool = True,
    ) -> None:
        if kind not in ("sms", "email"):
            raise ValueError(f"kind must be 'sms' or 'email', not {kind!r}")
        self.kind = kind
        self.name = "sms" if kind == "sms" else "email-notify"
        self._templates = dict(templates)
        self._dedupe = dedupe_by_reference
        # The official client has no annotations; held as Any so its calls type-check.
        self._client: Any = NotificationsAPIClient(  # type: ignore[no-untyped-call]
            api_key, base_url=base_url, timeout=timeout
        )

    def send(self, message: OutgoingMessage) -> str:
        template_id = self._templates.get(message.kind)
        if template_id is None:
            raise PermanentAdapterError(
                f"no GOV.UK Notify {self.kind} template configured for message kind "
                f"{message.kind!r}"
            )
        personalisation = message.personalisation or {
            "subject": message.subject,
            "body": message.body,
        }
        try:
            if self._dedupe:
                existing = self._find_existing(message.reference)
                if existing is not None:
                    return existing
            if self.kind == "sms":
                response = self._client.send_sms_notification(
                    phone_number=message.to,
                    template_id=template_id,
                    personalisation=personalisation,
                    reference=message.reference,
                )
            else:
                response = self._client.send_email_notification(
                    email_address=message.to,
                    template_id=template_id,
                    personalisation=personalisation,
                    reference=message.reference,
                )
        except HTTPError as exc:
            raise _translate(exc) from exc
        except (APIError, requests.RequestException) as exc:
            # InvalidResponse: Notify answered 2xx with something that is not JSON.
            # Transient: with dedupe on, the retry finds an accepted send by its reference.
            raise TransientAdapterError(f"GOV.UK Notify gave an unusable response: {exc}") from exc
        return self._notification_id(response)

    def _find_existing(self, reference: str) -> str | None:
        found = self._client.get_all_notifications(template_type=self.kind, reference=reference)
        notifications = found.get("notifications") if isinstance(found, dict) else None
        if not notifications:
            return None
        return self._notification_id(notifications[0])

    @staticmethod
    def _notification_id(response: object) -> str:
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            return str(response["id"])
        raise TransientAdapterError("GOV.UK Notify response has no notification id")
