"""Use cases: what a practice's system says of a GP Connect Send Document message, and what
MESH says of it, applied to the delivery that sent it. The caller commits.

ITK3 Message Distribution v2.9.0 (nhsconnect.github.io/ITK3-FHIR-Messaging-Distribution,
"Response patterns"): the receiving system answers a message with an infrastructure
response (it has the message) and a business response (its workflow has filed it, or
refused it); any negative response code means the message was not accepted. So, for a
delivery over MESH:

- MESH accepted it: in transit (the recommendation stays `queued`);
- infrastructure positive: *received by the practice system* (on the timeline);
- business positive: *filed in the practice's workflow*: the recommendation is `delivered`;
- a negative code from either: the delivery fails with the ITK code and its display, and the
  practitioner is told what to do; the console lists it and can replay it;
- no business response within LIAISON_MESH__RESPONSE_TIMEOUT_SECONDS, or a MESH
  non-delivery report, or MESH's own tracking saying it failed or expired: the same.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from fhir_profiles.send_document.contract import ItkResponse, ResponseKind
from gateway.domain import delivery_states
from gateway.domain.delivery_states import DeliveryMove, DeliveryState
from gateway.services import withdrawals
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.models import ChaseUp, Delivery, StatusEvent
from gateway.store.ports import UnitOfWorkPort

if TYPE_CHECKING:
    # A type only: the gateway imports this module without the MESH client behind it.
    from adapters.mesh import TrackingOutcome

RECEIVED: Final = "received"
FILED: Final = "filed"
REFUSED: Final = "refused"
# After these nothing more is learnt about the message (MESH tracking, responses, timeout).
SETTLED: Final = frozenset({FILED, REFUSED, "expired", "failed", "no-response"})
# Downloaded by the practice's system (MESH tracking) or received (ITK): no need to ask MESH
# about it again; only the business response is awaited.
COLLECTED: Final = frozenset({"acknowledged", RECEIVED})
# Read by the practitioner (the delivery-failed email, the timeline) and by engineers.
WHAT_TO_DO: Final = (
    "telephone the practice to agree what it needs; once that is settled it can be replayed "
    "from the console"
)
WHAT_TO_DO_CHASE_UP: Final = "telephone the practice about the request"
_MESH_FAILURE: Final[dict[str, str]] = {
    "expired": "the practice did not collect it from MESH within 5 days",
    "failed": "MESH could not deliver it to the practice",
}
_DISPLAY_LIMIT: Final = 200


def note(uow: UnitOfWorkPort, delivery: Delivery | ChaseUp, detail: str, *, now: datetime) -> None:
    """A line on the timeline that changes no status."""
    recommendation = uow.recommendations.get(delivery.recommendation_id)
    assert recommendation is not None
    uow.recommendations.add_event(
        StatusEvent(
            recommendation_id=recommendation.id,
            status=recommendation.status,
            detail=detail,
            source="mesh",
            applied=True,
            at=now,
        )
    )


def dead_letter(uow: UnitOfWorkPort, delivery: Delivery, why: str, *, now: datetime) -> None:
    """Dead-lettered like any failed delivery: listed for integration engineers, replayable,
    and the practitioner is told."""
    delivery_states.move(delivery, DeliveryMove.GIVE_UP)
    delivery.last_error = why
    delivery.next_attempt_at = None
    if delivery.purpose == withdrawals.WITHDRAWAL:
        withdrawals.record_dead(uow, delivery, why, now=now)
        return
    apply_status(
        uow,
        StatusChange(delivery.recommendation_id, "delivery-failed", source="mesh", detail=why),
        now=now,
    )


def _open(delivery: Delivery) -> bool:
    return delivery.state == DeliveryState.DELIVERED and delivery.remote_status not in SETTLED


def apply_response(
    uow: UnitOfWorkPort, delivery: Delivery, response: ItkResponse, *, now: datetime
) -> bool:
    """Apply one ITK3 response to the delivery whose message it answers. Returns whether
    anything changed (a repeated or late response changes nothing)."""
    if not _open(delivery):
        return False
    delivery.remote_checked_at = now
    withdrawal = delivery.purpose == withdrawals.WITHDRAWAL
    what = "withdrawal" if withdrawal else "request"
    if not response.positive:
        delivery.remote_status = REFUSED
        dead_letter(uow, delivery, f"{_refusal(what, response)}; {WHAT_TO_DO}", now=now)
        return True
    if response.kind is ResponseKind.INFRASTRUCTURE:
        if delivery.remote_status == RECEIVED:
            return False
        delivery.remote_status = RECEIVED
        note(uow, delivery, f"{what} received by the practice system", now=now)
        return True
    delivery.remote_status = FILED
    if withdrawal:
        withdrawals.record_acknowledged(uow, delivery, now=now)
        note(uow, delivery, "withdrawal filed in the practice's workflow", now=now)
        return True
    apply_status(
        uow,
        StatusChange(
            delivery.recommendation_id,
            "delivered",
            source="mesh",
            detail="filed in the practice's workflow (ITK3 business response)",
        ),
        now=now,
    )
    return True


def _refusal(what: str, response: ItkResponse) -> str:
    display = " ".join(response.display.split())[:_DISPLAY_LIMIT]
    which = "infrastructure" if response.kind is ResponseKind.INFRASTRUCTURE else "business"
    return (
        f"the practice system refused the {what} (ITK3 {which} response {response.code}: {display})"
    )


def apply_chase_up_response(
    uow: UnitOfWorkPort, chase_up: ChaseUp, response: ItkResponse, *, now: datetime
) -> bool:
    """A chase-up's letter is answered like a request's; the answer goes on the timeline
    (the chase-up was sent: a refused one is the practitioner's cue to telephone)."""
    if chase_up.remote_status in (FILED, REFUSED):
        return False
    what = f"chase-up {chase_up.number}"
    if not response.positive:
        chase_up.remote_status = REFUSED
        note(uow, chase_up, f"{_refusal(what, response)}; {WHAT_TO_DO_CHASE_UP}", now=now)
        return True
    if response.kind is ResponseKind.INFRASTRUCTURE:
        if chase_up.remote_status == RECEIVED:
            return False
        chase_up.remote_status = RECEIVED
        note(uow, chase_up, f"{what} received by the practice system", now=now)
        return True
    chase_up.remote_status = FILED
    note(uow, chase_up, f"{what} filed in the practice's workflow", now=now)
    return True


def record_tracking(
    uow: UnitOfWorkPort, delivery: Delivery, fate: "TrackingOutcome", *, now: datetime
) -> bool:
    """Apply what MESH tracking says of a message in transit. Returns whether it changed."""
    delivery.remote_checked_at = now
    if not _open(delivery) or delivery.remote_status in COLLECTED:
        return False
    if fate == "acknowledged":
        # The practice's system downloaded it; "delivered" waits for its business response.
        delivery.remote_status = "acknowledged"
        what = "withdrawal" if delivery.purpose == withdrawals.WITHDRAWAL else "request"
        note(uow, delivery, f"{what} collected from MESH by the practice system", now=now)
        return True
    if fate in _MESH_FAILURE:
        delivery.remote_status = fate
        dead_letter(uow, delivery, f"{_MESH_FAILURE[fate]}; {WHAT_TO_DO}", now=now)
        return True
    return False


def record_non_delivery(
    uow: UnitOfWorkPort, delivery: Delivery, description: str | None, *, now: datetime
) -> bool:
    """MESH's own report that a message could not be delivered (e.g. not collected within
    5 days)."""
    if not _open(delivery):
        return False
    delivery.remote_status = "failed"
    delivery.remote_checked_at = now
    detail = " ".join((description or "no reason given").split())[:_DISPLAY_LIMIT]
    dead_letter(uow, delivery, f"MESH could not deliver it ({detail}); {WHAT_TO_DO}", now=now)
    return True


def check_response_due(
    uow: UnitOfWorkPort, delivery: Delivery, *, timeout_seconds: float, now: datetime
) -> bool:
    """No business response long after MESH accepted the message: dead-lettered."""
    sent = delivery.delivered_at
    if sent is None or not _open(delivery):
        return False
    sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
    if (now - sent).total_seconds() < timeout_seconds:
        return False
    delivery.remote_status = "no-response"
    hours = timeout_seconds / 3600
    why = f"the practice system sent no ITK3 business response within {hours:g} hours; "
    dead_letter(uow, delivery, why + WHAT_TO_DO, now=now)
    return True
