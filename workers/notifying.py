"""Send one notification, or one practitioner's daily digest.

The claim makes a second run of the same task a no-op, so each event reaches each
recipient at most once. When a message may not go yet, it waits in the database with a
`not_before` (quiet hours, retry backoff) or `held` for a digest; the sweep and the digest
beat pick it up when its time comes: no long Celery ETAs.
"""

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import tenacity
from sqlalchemy.exc import InterfaceError, OperationalError

from adapters.errors import AdapterError, PermanentAdapterError
from adapters.notification import NotificationChannel, OutgoingMessage
from gateway import metrics
from gateway.domain import notification_states
from gateway.domain.audience import (
    UK,
    QuietHours,
    address_of,
    event_kind,
    must_wait_for_morning,
    next_digest_at,
)
from gateway.domain.explanations import MessageState, told_service_user
from gateway.domain.medicines import medicine_name
from gateway.domain.messages import Wording, compose, compose_digest
from gateway.domain.notification_states import NotificationMove, NotificationState
from gateway.domain.retry_policy import Retry, after_failure
from gateway.domain.supersession import superseded_because
from gateway.services.booking import with_booking_offer
from gateway.services.plan_reminders import named_person_of, withdrawal
from gateway.store.models import Notification, Recommendation
from gateway.store.unit_of_work import UnitOfWork
from workers.attempt_errors import failure_of
from workers.runtime import Runtime

LEASE = timedelta(seconds=60)
# Ended without going: `error` says why.
_NOT_TO_BE_SENT = (NotificationState.SUPPRESSED, NotificationState.SUPERSEDED)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Prepared:
    channel: NotificationChannel
    message: OutgoingMessage


def _told(
    uow: UnitOfWork, notification: Notification, rec: Recommendation, quiet: QuietHours
) -> str | None:
    """What the practitioner is told of the service user's message on the same event, as it
    stands now: a text held by quiet hours is not "has been told"."""
    if notification.recipient != "practitioner":
        return None
    theirs = next(
        (
            n
            for n in uow.notifications.for_recommendation(rec.id)
            if n.recipient == "service-user" and n.event == notification.event
        ),
        None,
    )
    state = None
    if theirs is not None:
        state = MessageState(
            recipient=theirs.recipient,
            channel=theirs.channel,
            status=theirs.status,
            not_before=theirs.not_before,
            reason=theirs.error if theirs.status in _NOT_TO_BE_SENT else None,
            failed_before=theirs.error is not None,
        )
    return told_service_user(event_kind(notification.event), state, now=_now(), quiet=quiet)


def _quiet(rt: Runtime) -> QuietHours:
    return QuietHours(rt.settings.audience.quiet_hours_start, rt.settings.audience.quiet_hours_end)


def _wording(
    uow: UnitOfWork, notification: Notification, rec: Recommendation, quiet: QuietHours
) -> Wording:
    # The practice's words (a rejection reason, a delivery error) travel with the event.
    detail = next(
        (
            e.detail
            for e in reversed(uow.recommendations.timeline(rec.id))
            if e.status == notification.event
        ),
        None,
    )
    return compose(
        event=notification.event,
        recipient=notification.recipient,
        recommendation_id=rec.id,
        detail=detail,
        payload=with_booking_offer(uow, rec),
        product_name=medicine_name(rec.product, rec.payload),
        pharmacy=rec.payload.get("pharmacy"),
        told=_told(uow, notification, rec, quiet),
    )


def _webhook_body(rt: Runtime, notification: Notification, rec: Recommendation) -> str:
    # Ids and status words only: the app looks up anything else through the API.
    base = rt.settings.api.public_base_url.rstrip("/")
    body: dict[str, Any] = {
        "id": notification.id,
        "event": notification.event,
        "occurred_at": notification.created_at.isoformat(),
        "recommendation": {
            "id": rec.id,
            "status": rec.status,
            "url": f"{base}/v1/recommendations/{rec.id}",
        },
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _prefers_digest(uow: UnitOfWork, rec: Recommendation) -> bool:
    preference = uow.engagement.preference(rec.organisation_ods, rec.practitioner_id)
    return preference is not None and preference.delivery == "daily-digest"


def _wait(notification: Notification, move: NotificationMove, *, until: datetime | None) -> None:
    notification_states.move(notification, move)
    notification.not_before, notification.lease_until = until, None


def _supersede(notification: Notification, reason: str) -> None:
    notification_states.move(notification, NotificationMove.SUPERSEDE)
    notification.error = reason
    notification.lease_until, notification.not_before = None, None


def _no_longer_holds(
    rt: Runtime, uow: UnitOfWork, notification: Notification, rec: Recommendation
) -> str | None:
    """Why it must not go now: the recommendation moved on, or (a plan reminder) the plan was
    turned off, the service user opted out or withdrew consent to copies."""
    return superseded_because(
        notification.event, recipient=notification.recipient, status=rec.status
    ) or withdrawal(uow, rec.id, notification.event, notification.recipient, rt.settings.reminders)


def _address(uow: UnitOfWork, notification: Notification, rec: Recommendation) -> str:
    if notification.recipient == "named-person":
        # Checked by _no_longer_holds just before: the plan still names them.
        named = named_person_of(uow.reminder_plans.get(rec.id))
        assert named is not None
        return named.address
    return address_of(
        notification.recipient, notification.channel, rec.payload, notification.member
    )


def _prepare(rt: Runtime, notification_id: str) -> _Prepared | str:
    now = _now()
    with UnitOfWork(rt.session_factory) as uow:
        if not uow.notifications.claim(notification_id, now=now, lease=LEASE):
            return "skipped"
        notification = uow.notifications.get(notification_id)
        assert notification is not None
        rec = uow.recommendations.get(notification.recommendation_id)
        assert rec is not None
        kind = event_kind(notification.event)
        outcome: _Prepared | str
        if reason := _no_longer_holds(rt, uow, notification, rec):
            # Checked at the moment of sending, whatever made it wait (quiet hours, a
            # digest, a retry): the person is never told something no longer true.
            _supersede(notification, reason)
            outcome = "superseded"
        elif (
            notification.recipient == "practitioner"
            and notification.batch_id is None
            and _prefers_digest(uow, rec)
        ):
            until = next_digest_at(now, hour=rt.settings.audience.digest_hour)
            _wait(notification, NotificationMove.HOLD, until=until)
            outcome = "held"
        elif (
            must_wait_for_morning(notification.recipient, notification.channel)
            and (allowed := _quiet(rt).next_allowed(now)) > now
        ):
            # Deferred, never dropped: the sweep sends it when quiet hours end.
            _wait(notification, NotificationMove.DEFER, until=allowed)
            outcome = "deferred"
        elif notification.channel == "webhook":
            subscription = uow.engagement.webhook(rec.organisation_ods)
            if subscription is None:
                notification_states.move(notification, NotificationMove.SUPPRESS)
                notification.lease_until = None
                notification.error = "the organisation has no webhook subscription now"
                outcome = "suppressed"
            else:
                message = OutgoingMessage(
                    reference=notification.id,
                    kind=notification.event,
                    to=subscription.url,
                    subject=notification.event,
                    body=_webhook_body(rt, notification, rec),
                )
                outcome = _Prepared(rt.webhook(subscription.secret), message)
        else:
            wording = _wording(uow, notification, rec, _quiet(rt))
            personalisation = {"subject": wording.subject, "body": wording.body}
            if notification.recipient == "service-user" and rec.payload.get("pharmacy"):
                personalisation["pharmacy"] = str(rec.payload["pharmacy"])
            message = OutgoingMessage(
                reference=notification_id,
                kind=kind,
                to=_address(uow, notification, rec),
                subject=wording.subject,
                body=wording.body,
                personalisation=personalisation,
            )
            name = notification.channel
            if notification.recipient in ("service-user", "named-person") and name == "email":
                name = "notify-email"
            outcome = _Prepared(rt.channel(name), message)
        uow.commit()
        if outcome == "superseded":
            metrics.record_notification(notification.channel, "superseded")
    return outcome


def _after_failure(
    rt: Runtime, notification: Notification, error: AdapterError, now: datetime
) -> None:
    """The rule every leased job follows (gateway.domain.retry_policy): a refusal fails at
    once; anything else waits with backoff, at least as long as a rate limit asks, until the
    retry budget, counted from when the message was raised, is spent. Webhooks are
    notifications on their own channel and follow it too."""
    then = after_failure(
        rt.retry_policy,
        max(1, notification.attempt_count),
        failure_of(error),
        now,
        first_attempt_at=notification.created_at,
        draw=random.random(),
    )
    retry = isinstance(then, Retry)
    outcome = notification_states.move(
        notification, NotificationMove.RETRY if retry else NotificationMove.GIVE_UP
    )
    if outcome.refused:
        return  # a send that outlived its lease: another worker has settled it since
    notification.lease_until, notification.error = None, str(error)
    if isinstance(then, Retry):
        notification.not_before = then.at


def send_notification(rt: Runtime, notification_id: str) -> str:
    """Returns what happened: sent | failed | pending (will retry) | held | deferred |
    suppressed | superseded (no longer true: not sent) | skipped (someone else has it, or
    it is done)."""
    prepared = _prepare(rt, notification_id)
    if isinstance(prepared, str):
        return prepared
    provider_id: str | None = None
    error: AdapterError | None = None
    try:
        provider_id = prepared.channel.send(prepared.message)
    except AdapterError as exc:
        error = exc
    return _record_outcome(rt, notification_id, provider_id, error)


# A message that has gone must be recorded as gone. If the database is briefly unreachable
# just after the send (restarted, failing over), asking it again beats leaving the row to
# lapse back to pending when its lease runs out and be sent a second time: email has no way
# to ask the relay whether it already took the message. Stops well inside the lease.
_RECORD_AGAIN = tenacity.retry(
    retry=tenacity.retry_if_exception_type((OperationalError, InterfaceError)),
    wait=tenacity.wait_exponential(multiplier=0.25, max=4),
    stop=tenacity.stop_after_delay(LEASE.total_seconds() / 2),
    reraise=True,
)


@_RECORD_AGAIN
def _record_outcome(
    rt: Runtime, notification_id: str, provider_id: str | None, error: AdapterError | None
) -> str:
    with UnitOfWork(rt.session_factory) as uow:
        notification = uow.notifications.get(notification_id)
        assert notification is not None
        now = _now()
        if error is None:
            if not notification_states.move(notification, NotificationMove.SUCCEED).refused:
                notification.provider_id, notification.sent_at = provider_id, now
                notification.error = None
                notification.lease_until, notification.not_before = None, None
        else:
            _after_failure(rt, notification, error, now)
        uow.commit()
        metrics.record_notification(notification.channel, notification.status)
        return notification.status


def _count_superseded(count: int) -> None:
    for _ in range(count):
        metrics.record_notification("email", "superseded")


def digests_due(rt: Runtime, *, limit: int = 200) -> list[tuple[str, str]]:
    with UnitOfWork(rt.session_factory) as uow:
        return uow.notifications.digest_recipients_due(now=_now(), limit=limit)


def _digest_outcome(
    item: Notification, error: AdapterError | None, *, provider_id: str | None, at: datetime
) -> None:
    """Record what became of the digest on one of its messages."""
    if error is None:
        move = NotificationMove.SUCCEED
    elif isinstance(error, PermanentAdapterError):
        move = NotificationMove.GIVE_UP
    else:
        move = NotificationMove.HOLD  # back into the next digest run
    if notification_states.move(item, move).refused:
        return  # a digest that outlived its lease: the message was settled on its own since
    item.lease_until = None
    if error is None:
        item.provider_id, item.sent_at, item.error = provider_id, at, None
    else:
        item.error = str(error)
    if move is NotificationMove.HOLD:
        item.batch_id = None  # the batch is dissolved


def send_digest(rt: Runtime, organisation_ods: str, practitioner_id: str) -> str:
    """Send one practitioner every held message now due, as one email."""
    now = _now()
    batch_id = str(uuid.uuid4())
    with UnitOfWork(rt.session_factory) as uow:
        items = uow.notifications.claim_digest(
            organisation_ods=organisation_ods,
            practitioner_id=practitioner_id,
            batch_id=batch_id,
            now=now,
            lease=LEASE,
        )
        if not items:
            return "skipped"
        wordings: list[Wording] = []
        latest: Recommendation | None = None
        superseded = 0
        for item in items:
            rec = uow.recommendations.get(item.recommendation_id)
            assert rec is not None
            reason = superseded_because(item.event, recipient=item.recipient, status=rec.status)
            if reason is not None:
                # Out of the batch: the digest tells only what still holds.
                _supersede(item, reason)
                item.batch_id, superseded = None, superseded + 1
                continue
            wordings.append(_wording(uow, item, rec, _quiet(rt)))
            if latest is None or rec.created_at >= latest.created_at:
                latest = rec
        if latest is None:
            uow.commit()  # every held message had been overtaken: nothing to send
            _count_superseded(superseded)
            return "superseded"
        digest = compose_digest(wordings, date_text=now.astimezone(UK).date().isoformat())
        message = OutgoingMessage(
            reference=batch_id,
            kind="digest",
            to=address_of("practitioner", "email", latest.payload),
            subject=digest.subject,
            body=digest.body,
        )
        uow.commit()
    _count_superseded(superseded)
    error: AdapterError | None = None
    provider_id: str | None = None
    try:
        provider_id = rt.channel("email").send(message)
    except AdapterError as exc:
        error = exc
    with UnitOfWork(rt.session_factory) as uow:
        finished = _now()
        for item in uow.notifications.in_batch(batch_id):
            _digest_outcome(item, error, provider_id=provider_id, at=finished)
        uow.commit()
    return "sent" if error is None else "failed"
