"""Practitioner notification preferences and case-management webhook subscriptions."""

from sqlalchemy.orm import Session

from gateway.store.models import PractitionerPreference, WebhookSubscription


class EngagementRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        # Organisations found to have no webhook subscription in this unit of work.
        self._unsubscribed: set[str] = set()

    def preference(
        self, organisation_ods: str, practitioner_id: str
    ) -> PractitionerPreference | None:
        return self._session.get(PractitionerPreference, (organisation_ods, practitioner_id))

    def set_preference(self, preference: PractitionerPreference) -> PractitionerPreference:
        existing = self.preference(preference.organisation_ods, preference.practitioner_id)
        if existing is None:
            self._session.add(preference)
            return preference
        existing.delivery = preference.delivery
        existing.updated_at = preference.updated_at
        return existing

    def webhook(self, organisation_ods: str) -> WebhookSubscription | None:
        # Asked for every event (status_updates.record_event). A missing row is not kept in the
        # session's identity map, so each ask was a query and an autoflush: the relay marking
        # 200 recommendations "queued" spent a third of its time here (docs/BENCHMARKS.md).
        if organisation_ods in self._unsubscribed:
            return None
        found = self._session.get(WebhookSubscription, organisation_ods)
        if found is None:
            self._unsubscribed.add(organisation_ods)
        return found

    def set_webhook(self, subscription: WebhookSubscription) -> WebhookSubscription:
        existing = self.webhook(subscription.organisation_ods)
        if existing is None:
            self._session.add(subscription)
            self._unsubscribed.discard(subscription.organisation_ods)
            return subscription
        existing.url = subscription.url
        existing.secret = subscription.secret
        existing.updated_at = subscription.updated_at
        return existing

    def delete_webhook(self, organisation_ods: str) -> bool:
        existing = self.webhook(organisation_ods)
        if existing is None:
            return False
        self._session.delete(existing)
        return True
