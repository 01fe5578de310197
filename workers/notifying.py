"""Send one notification. The claim makes a second run of the same task a no-op."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapters.errors import AdapterError, PermanentAdapterError
from adapters.notification import OutgoingMessage
from fhir_profiles.catalogue import find_product
from gateway.domain.messages import compose
from gateway.store.unit_of_work import UnitOfWork
from workers.runtime import Runtime

LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class _Prepared:
    channel: str
    message: OutgoingMessage


def _prepare(rt: Runtime, notification_id: str) -> _Prepared | None:
    now = datetime.now(UTC)
    with UnitOfWork(rt.session_factory) as uow:
        if not uow.notifications.claim(notification_id, now=now, lease=LEASE):
            return None
        notification = uow.notifications.get(notification_id)
        assert notification is not None
        recommendation = uow.recommendations.get(notification.recommendation_id)
        assert recommendation is not None
        payload = recommendation.payload
        detail = next(
            (
                e.detail
                for e in reversed(uow.recommendations.timeline(recommendation.id))
                if e.status == notification.event
            ),
            None,
        )
        product = find_product(recommendation.product)
        wording = compose(
            event=notification.event,
            recipient=notification.recipient,
            recommendation_id=recommendation.id,
            detail=detail,
            payload=payload,
            product_name=product.name if product else recommendation.product,
            pharmacy=payload.get("pharmacy"),
        )
        if notification.recipient == "practitioner":
            to = payload["practitioner"]["email"]
        elif notification.channel == "sms":
            to = payload["service_user"]["contact"]["mobile"]
        else:
            to = payload["service_user"]["contact"]["email"]
        uow.commit()
    message = OutgoingMessage(
        reference=notification_id,
        kind=notification.event,
        to=to,
        subject=wording.subject,
        body=wording.body,
        personalisation={"subject": wording.subject, "body": wording.body},
    )
    return _Prepared(notification.channel, message)


def send_notification(rt: Runtime, notification_id: str) -> str:
    prepared = _prepare(rt, notification_id)
    if prepared is None:
        return "skipped"
    provider_id: str | None = None
    error: AdapterError | None = None
    try:
        provider_id = rt.channel(prepared.channel).send(prepared.message)
    except AdapterError as exc:
        error = exc
    with UnitOfWork(rt.session_factory) as uow:
        notification = uow.notifications.get(notification_id)
        assert notification is not None
        notification.lease_until = None
        if error is None:
            notification.status, notification.provider_id = "sent", provider_id
            notification.sent_at, notification.error = datetime.now(UTC), None
        elif isinstance(error, PermanentAdapterError) or notification.attempt_count >= 10:
            notification.status, notification.error = "failed", str(error)
        else:
            # Back to pending: the sweep republishes it after a pause.
            notification.status, notification.error = "pending", str(error)
        uow.commit()
    return notification.status
