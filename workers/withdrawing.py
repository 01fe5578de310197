"""The withdrawal job: a withdrawal goes to the practice as a delivery like any other, in
workers.delivery (claim, send, record, retry, dead letter, replay); this module says what is
sent and what its outcome means.

The practice's copy of a request carries the request delivery's identifier (the FHIR
resources' identifier, the document's id), so the withdrawal is handed the request's
`delivery_id` and the request as it was sent, with purpose WITHDRAWAL and the reason. It
changes nothing in the recommendation's status (already cancelled, or moved to the new
practice): its outcome is on the timeline, in /ops/deliveries and the console.
"""

from datetime import datetime

from adapters.gp_system import Delivery as OutgoingDelivery
from adapters.gp_system import DeliveryPurpose
from fhir_profiles.builders import ResourceSet, build_transaction_bundle, resource_set_of
from gateway.services import withdrawals
from gateway.store.models import Delivery
from gateway.store.unit_of_work import UnitOfWork


def resource_set(uow: UnitOfWork, recommendation_id: str) -> ResourceSet:
    # Every stored resource travels again: each medicine's MedicationRequest (combination
    # NRT), the clinical-safety flag they point at and, when stored, the Patient,
    # Practitioner and PractitionerRole they refer to.
    return resource_set_of([r.body for r in uow.recommendations.resources_for(recommendation_id)])


def outgoing(uow: UnitOfWork, withdrawal: Delivery) -> OutgoingDelivery:
    """What the adapter is handed for a withdrawal delivery."""
    withdrawn = uow.deliveries.get(withdrawal.withdraws_id or "")
    assert withdrawn is not None, "a withdrawal names the request delivery it withdraws"
    request_id = withdrawn.external_id or withdrawn.id
    assert withdrawal.practice_ods is not None
    return OutgoingDelivery(
        delivery_id=request_id,
        recommendation_id=withdrawal.recommendation_id,
        ods_code=withdrawal.practice_ods,
        bundle=build_transaction_bundle(
            resource_set(uow, withdrawal.recommendation_id), delivery_id=request_id
        ),
        purpose=DeliveryPurpose.WITHDRAWAL,
        withdrawal_reason=withdrawal.withdrawal_reason or withdrawals.CANCELLED_REASON,
    )


def is_withdrawal(delivery: Delivery) -> bool:
    return delivery.purpose == withdrawals.WITHDRAWAL


def on_success(
    uow: UnitOfWork, withdrawal: Delivery, *, in_transit: bool, found: bool, now: datetime
) -> None:
    if in_transit:
        # Store-and-forward (MESH): acknowledged when the practice's system says so.
        withdrawal.remote_status = "accepted"
    withdrawals.record_sent(uow, withdrawal, acknowledged=not in_transit, found=found, now=now)


def on_dead(uow: UnitOfWork, withdrawal: Delivery, why: str, *, now: datetime) -> None:
    withdrawals.record_dead(uow, withdrawal, why, now=now)
