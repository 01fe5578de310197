"""Alerts: beat evaluates the rule table (gateway.domain.alert_rules) against the store,
opens, raises and resolves alerts, and hands the engineers' channel one notice per change.

The caller commits.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from gateway.domain.alert_rules import (
    DEAD_LETTER_WINDOW,
    NOTICE_LEASE,
    AlertRules,
    Facts,
    conditions,
)
from gateway.settings import Settings
from gateway.store.alert_models import Alert
from gateway.store.ports import UnitOfWorkPort


def rules_from(settings: Settings) -> AlertRules:
    return AlertRules(
        dead_letter_threshold=settings.alerts.dead_letter_threshold,
        circuit_open_for=timedelta(minutes=settings.alerts.circuit_open_minutes),
        outbox_lag_limit_seconds=settings.alerts.outbox_lag_seconds,
    )


def gather(uow: UnitOfWorkPort, *, now: datetime) -> Facts:
    oldest = uow.outbox.oldest_unpublished_at()
    return Facts(
        dead_letters=uow.practice_health.dead_letters_since(now - DEAD_LETTER_WINDOW),
        open_circuits=uow.practice_health.open_circuits(),
        outbox_lag_seconds=(now - oldest).total_seconds() if oldest else 0.0,
    )


@dataclass(frozen=True)
class Evaluation:
    raised: list[int]  # alert ids
    resolved: list[int]


def evaluate(uow: UnitOfWorkPort, rules: AlertRules, *, now: datetime) -> Evaluation:
    """Open, raise and resolve alerts for what is wrong now. The caller commits."""
    current = {(c.rule, c.subject): c for c in conditions(gather(uow, now=now), rules)}
    open_alerts = {(a.rule, a.subject): a for a in uow.alerts.open()}
    raised: list[int] = []
    resolved: list[int] = []
    for key, condition in current.items():
        alert = open_alerts.get(key)
        if alert is None:
            alert = Alert(
                rule=condition.rule,
                subject=condition.subject,
                detail=condition.detail,
                first_seen_at=now,
                last_seen_at=now,
            )
            if not uow.alerts.add_once(alert):
                continue  # another evaluation opened it a moment ago
        alert.last_seen_at = now
        alert.detail = condition.detail
        if alert.raised_at is None and now - alert.first_seen_at >= condition.hold:
            alert.raised_at = now
            uow.flush()
            raised.append(alert.id)
    for key, alert in open_alerts.items():
        if key in current:
            continue
        if alert.raised_at is None:
            uow.alerts.discard(alert)  # a blip shorter than its rule's hold
        else:
            alert.resolved_at = now
            resolved.append(alert.id)
    return Evaluation(raised=raised, resolved=resolved)


NoticeKind = Literal["raised", "resolved"]


@dataclass(frozen=True)
class Notice:
    """One message to the engineers about one alert."""

    alert_id: int
    kind: NoticeKind
    reference: str  # stable per alert and kind: a resend is recognisably the same message
    subject: str
    body: str
    payload: dict[str, Any]


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def notice_for(alert: Alert, *, console_url: str) -> Notice:
    kind: NoticeKind = "raised" if alert.resolved_at is None else "resolved"
    assert alert.raised_at is not None
    link = f"{console_url.rstrip('/')}/alerts"
    if kind == "raised":
        subject = f"[Liaison] ALERT {alert.rule} {alert.subject}"
        lasted = _duration((alert.raised_at - alert.first_seen_at).total_seconds())
        body = (
            f"{alert.detail}.\n\nRule: {alert.rule}\nSubject: {alert.subject}\n"
            f"First seen: {alert.first_seen_at.isoformat()} ({lasted} before it was raised)\n"
            f"Raised: {alert.raised_at.isoformat()}\n\n"
            f"You will get one more message when it clears. Console: {link}\n"
        )
    else:
        assert alert.resolved_at is not None
        subject = f"[Liaison] RESOLVED {alert.rule} {alert.subject}"
        lasted = _duration((alert.resolved_at - alert.raised_at).total_seconds())
        body = (
            f"Resolved: {alert.detail} — no longer the case.\n\nRule: {alert.rule}\n"
            f"Subject: {alert.subject}\nRaised: {alert.raised_at.isoformat()}\n"
            f"Resolved: {alert.resolved_at.isoformat()} (firing for {lasted})\n\n"
            f"Console: {link}\n"
        )
    payload: dict[str, Any] = {
        "alert_id": alert.id,
        "status": "firing" if kind == "raised" else "resolved",
        "rule": alert.rule,
        "subject": alert.subject,
        "detail": alert.detail,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "raised_at": alert.raised_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "console_url": link,
    }
    return Notice(alert.id, kind, f"alert-{alert.id}-{kind}", subject, body, payload)


def claim_notices(uow: UnitOfWorkPort, *, now: datetime, console_url: str) -> list[Notice]:
    """Take every notice due (raised and not yet told, or told and since resolved); each is
    held by this sender for a minute. The caller commits, sends, then calls `notice_sent`."""
    notices: list[Notice] = []
    for alert_id in uow.alerts.with_notice_due(now=now):
        if not uow.alerts.claim_notice(alert_id, now=now, lease=NOTICE_LEASE):
            continue
        alert = uow.alerts.get(alert_id)
        assert alert is not None
        notices.append(notice_for(alert, console_url=console_url))
    return notices


def notice_sent(
    uow: UnitOfWorkPort, notice: Notice, *, now: datetime, errors: Sequence[str] = ()
) -> None:
    """Record a send. With errors it stays due, and the next evaluation tries again."""
    alert = uow.alerts.get(notice.alert_id)
    if alert is None:
        return
    alert.notice_claimed_until = None
    if errors:
        alert.notice_error = "; ".join(errors)[:2000]
        return
    alert.notice_error = None
    if notice.kind == "raised":
        alert.notified_at = now
    else:
        alert.resolution_notified_at = now
