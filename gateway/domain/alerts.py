"""Alerts without floods: a small rule table, evaluated by beat.

| rule | subject | raised when | held for |
|---|---|---|---|
| `dead-letters` | practice | at least `alert_dead_letter_threshold` deliveries to it were dead-lettered in the last hour and are not replayed | at once |
| `circuit-open` | practice | its circuit breaker has not been closed for `alert_circuit_open_minutes` | N minutes |
| `outbox-lag` | `outbox` | the oldest unpublished outbox job is older than `alert_outbox_lag_seconds` | at once |

A condition seen for the first time opens an alert (one per rule and subject: the database
refuses a second while one is open). It is *raised* — shown as firing and sent to the
engineers' channel — once it has lasted as long as its rule asks, and *resolved* the first
evaluation that no longer sees it; a condition that clears before being raised leaves no
trace. However many attempts fail meanwhile and however often beat evaluates, engineers get
one message when it is raised and one when it clears.

Every field of an alert is about practices and queues: never a patient.
"""  # noqa: E501

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from gateway.settings import Settings
from gateway.store.alert_models import Alert
from gateway.store.unit_of_work import UnitOfWork

DEAD_LETTERS = "dead-letters"
CIRCUIT_OPEN = "circuit-open"
OUTBOX_LAG = "outbox-lag"
RULES = (DEAD_LETTERS, CIRCUIT_OPEN, OUTBOX_LAG)
DEAD_LETTER_WINDOW = timedelta(hours=1)
NOTICE_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class AlertRules:
    dead_letter_threshold: int
    circuit_open_for: timedelta
    outbox_lag_limit_seconds: float


def rules_from(settings: Settings) -> AlertRules:
    return AlertRules(
        dead_letter_threshold=settings.alert_dead_letter_threshold,
        circuit_open_for=timedelta(minutes=settings.alert_circuit_open_minutes),
        outbox_lag_limit_seconds=settings.alert_outbox_lag_seconds,
    )


@dataclass(frozen=True)
class Facts:
    """What the rules look at, read in one transaction."""

    dead_letters: dict[str, int]  # practice -> dead-lettered in the window, not replayed
    open_circuits: dict[str, str]  # practice -> open | half-open
    outbox_lag_seconds: float


@dataclass(frozen=True)
class Condition:
    """Something wrong now: raised when it has lasted `hold`."""

    rule: str
    subject: str
    detail: str
    hold: timedelta


def conditions(facts: Facts, rules: AlertRules) -> list[Condition]:
    """The rule table applied to the facts. Pure."""
    found: list[Condition] = []
    for ods, count in sorted(facts.dead_letters.items()):
        if count >= rules.dead_letter_threshold:
            letters = "delivery" if count == 1 else "deliveries"
            found.append(
                Condition(
                    DEAD_LETTERS,
                    ods,
                    f"{count} {letters} to {ods} dead-lettered in the last hour",
                    timedelta(0),
                )
            )
    for ods, state in sorted(facts.open_circuits.items()):
        found.append(
            Condition(
                CIRCUIT_OPEN,
                ods,
                f"the circuit breaker for {ods} is {state}: its GP system keeps failing",
                rules.circuit_open_for,
            )
        )
    if facts.outbox_lag_seconds > rules.outbox_lag_limit_seconds:
        found.append(
            Condition(
                OUTBOX_LAG,
                "outbox",
                f"the oldest unpublished outbox job is {facts.outbox_lag_seconds:.0f} s old "
                f"(limit {rules.outbox_lag_limit_seconds:.0f} s): is beat running?",
                timedelta(0),
            )
        )
    return found


def gather(uow: UnitOfWork, *, now: datetime) -> Facts:
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


def evaluate(uow: UnitOfWork, rules: AlertRules, *, now: datetime) -> Evaluation:
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
            uow.session.flush()
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


def claim_notices(uow: UnitOfWork, *, now: datetime, console_url: str) -> list[Notice]:
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
    uow: UnitOfWork, notice: Notice, *, now: datetime, errors: Sequence[str] = ()
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
