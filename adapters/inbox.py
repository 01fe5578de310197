"""The practice inbox as a GP system: for practices with no integration at all.

Nothing leaves Liaison. Submitting marks the request as delivered, which is what puts it on
the practice's inbox page (gateway/api/web/inbox.py); practice staff then act on it there, and
their actions go straight through the lifecycle. So there is nothing to poll. A withdrawal
needs nothing sent either: the page shows the request as withdrawn.
"""

from adapters.gp_system import Capability, Delivery, DeliveryPurpose, SubmitReceipt


class InboxGPSystem:
    # Nothing to fetch or track: practice staff act on the inbox page itself.
    capabilities = Capability.SUBMIT | Capability.WITHDRAW

    def submit(self, delivery: Delivery) -> SubmitReceipt:
        if delivery.purpose is DeliveryPurpose.WITHDRAWAL:
            # The inbox page reads the withdrawal itself: from now the request shows as
            # withdrawn, with the reason, and can no longer be acted on.
            return SubmitReceipt(
                remote_reference=delivery.recommendation_id, status_code=None, created=True
            )
        return SubmitReceipt(remote_reference=None, status_code=None, created=True)

    def health(self) -> bool:
        return True
