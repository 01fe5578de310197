"""Evaluate the alert rules and tell the engineers (beat, every `alert_check_seconds`).

The engineers' channel is email (`LIAISON_ALERTS__EMAIL`, through the same SMTP relay as
practitioners' email) and/or a signed webhook (`LIAISON_ALERTS__WEBHOOK_URL`, e.g. a chat
tool's incoming hook or an incident system). A notice that cannot be sent stays due and is
tried again at the next evaluation; its reference is the same each time (the email's
Message-ID, the webhook's `Liaison-Event-Id`), so a receiver can drop a repeat.

The alert webhook's URL is the operator's own setting, not a tenant's, so its host and port
are allowed even when internal (a chat tool on the operator's network); tenants' webhooks
are still held to public hosts (adapters.address_policy).
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import httpx

from adapters.address_policy import DEFAULT_PORTS, AllowedHosts
from adapters.errors import AdapterError
from adapters.notification import NotificationChannel, OutgoingMessage
from adapters.webhook import WebhookChannel
from gateway.services import alerts
from gateway.store.unit_of_work import UnitOfWork
from workers.runtime import Runtime


@dataclass(frozen=True)
class AlertRun:
    raised: int
    resolved: int
    notices_sent: int
    notices_failed: int


@dataclass(frozen=True)
class _Destination:
    name: str
    channel: NotificationChannel
    to: str
    json_body: bool


def webhook_secret(rt: Runtime) -> str:
    """The alert webhook's signing key: its own setting, or one derived from the secret key
    (so a receiver that checks signatures has a stable key without another secret)."""
    configured = rt.settings.alerts.webhook_secret
    if configured:
        return configured
    return hmac.new(
        rt.settings.security.secret_key.encode(), b"liaison-alert-webhook", hashlib.sha256
    ).hexdigest()


@lru_cache(maxsize=4)
def _alert_webhook(secret: str, url: str, timeout: float) -> NotificationChannel:
    parsed = httpx.URL(url)
    port = parsed.port or DEFAULT_PORTS.get(parsed.scheme, 0)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    allowed = AllowedHosts.parse([f"{host}:{port}"])
    return WebhookChannel(secret=secret, timeout=timeout, allowed_hosts=allowed)


def _destinations(rt: Runtime) -> list[_Destination]:
    found: list[_Destination] = []
    if rt.settings.alerts.email:
        found.append(_Destination("email", rt.channel("email"), rt.settings.alerts.email, False))
    if rt.settings.alerts.webhook_url:
        found.append(
            _Destination(
                "webhook",
                _alert_webhook(
                    webhook_secret(rt),
                    rt.settings.alerts.webhook_url,
                    rt.settings.webhooks.timeout_seconds,
                ),
                rt.settings.alerts.webhook_url,
                True,
            )
        )
    return found


def check_alerts(rt: Runtime, *, now: datetime | None = None) -> AlertRun:
    at = now or datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        evaluation = alerts.evaluate(uow, alerts.rules_from(rt.settings), now=at)
        uow.commit()
    destinations = _destinations(rt)
    if not destinations:
        # Nobody to tell: alerts are still listed on the console and counted in /metrics.
        return AlertRun(len(evaluation.raised), len(evaluation.resolved), 0, 0)
    console_url = f"{rt.settings.api.public_base_url.rstrip('/')}/console"
    with UnitOfWork(rt.session_factory) as uow:
        notices = alerts.claim_notices(uow, now=at, console_url=console_url)
        uow.commit()
    sent = failed = 0
    for notice in notices:
        errors: list[str] = []
        for destination in destinations:
            message = OutgoingMessage(
                reference=notice.reference,
                kind="alert",
                to=destination.to,
                subject=notice.subject,
                body=json.dumps(notice.payload, sort_keys=True)
                if destination.json_body
                else notice.body,
            )
            try:
                destination.channel.send(message)
            except AdapterError as exc:
                errors.append(f"{destination.name}: {exc}")
        with UnitOfWork(rt.session_factory) as uow:
            alerts.notice_sent(uow, notice, now=at, errors=errors)
            uow.commit()
        if errors:
            failed += 1
        else:
            sent += 1
    return AlertRun(len(evaluation.raised), len(evaluation.resolved), sent, failed)
