"""Re-engagement: when a service user is ready again, the practitioner re-opens a rejected,
cancelled, failed or expired recommendation. That creates a linked successor (the same
pipeline as a new submission) and leaves the original as it was, so the history stays true.

"Expired" is derived, not a status word: a prescription left uncollected beyond
`uncollected_for`, or a practice that stayed silent through every chase-up. Re-opening
an expired one closes it as `cancelled` so nothing keeps polling or chasing it.

`reopen` commits (through intake.submit); the rest only read.
"""

from datetime import datetime
from typing import Any, Final

from sqlalchemy.exc import IntegrityError

from gateway.domain.chase_policy import CHASED_STATUS
from gateway.domain.chase_up_states import ChaseUpState
from gateway.domain.errors import ErrorKind, LiaisonError
from gateway.domain.expiry import REOPENABLE, ExpiryPolicy
from gateway.services import intake, withdrawals
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.models import Recommendation
from gateway.store.ports import UnitOfWorkPort

_CHAIN_LIMIT: Final = 100


class ReopenRefused(LiaisonError):
    """The recommendation cannot be re-opened as things stand (a conflict)."""

    def __init__(self, detail: str) -> None:
        # The answer has always been headed by the sentence itself; kept so it stays the same.
        super().__init__(detail, kind=ErrorKind.CONFLICT, title=detail)


def is_expired(
    uow: UnitOfWorkPort, recommendation: Recommendation, *, now: datetime, policy: ExpiryPolicy
) -> bool:
    if recommendation.status == "ready-to-collect":
        ready_at = uow.recommendations.last_event_at(recommendation.id, "ready-to-collect")
        return ready_at is not None and now >= ready_at + policy.uncollected_for
    if recommendation.status == CHASED_STATUS:
        sent = [
            c.sent_at
            for c in uow.follow_ups.chase_ups_for(recommendation.id)
            if c.state == ChaseUpState.SENT and c.sent_at is not None
        ]
        if not sent or len(sent) < policy.chase.limit:
            return False
        gave_up_at = policy.chase.calendar.add(max(sent), policy.chase.again_after_days)
        return now >= gave_up_at
    return False


def successor_of(uow: UnitOfWorkPort, recommendation_id: str) -> Recommendation | None:
    return uow.follow_ups.successor_of(recommendation_id)


def chain(uow: UnitOfWorkPort, recommendation: Recommendation) -> list[Recommendation]:
    """Every recommendation linked to this one, the first original to the latest re-opening."""
    earlier: list[Recommendation] = []
    current = recommendation
    while current.predecessor_id and len(earlier) < _CHAIN_LIMIT:
        found = uow.recommendations.get(current.predecessor_id)
        if found is None:
            break
        earlier.append(found)
        current = found
    later: list[Recommendation] = []
    current = recommendation
    while len(later) < _CHAIN_LIMIT and (found := successor_of(uow, current.id)) is not None:
        later.append(found)
        current = found
    return [*reversed(earlier), recommendation, *later]


def reopened_payload(original: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The original request with the practitioner's changes (whole sections replaced)."""
    return {**original, **changes}


def reopen(
    uow: UnitOfWorkPort,
    *,
    predecessor: Recommendation,
    client_id: str,
    idempotency_key: str | None,
    payload: dict[str, Any],
    now: datetime,
    policy: ExpiryPolicy,
    registered_practice_from_pds: bool = False,
) -> intake.IntakeResult:
    """Create the successor of `predecessor` with `payload` (already validated) and commit.

    Raises ReopenRefused if it is still in progress or already re-opened, and the intake
    errors for a bad practice or a reused Idempotency-Key.
    """
    command = intake.IntakeCommand(
        client_id=client_id,
        organisation_ods=predecessor.organisation_ods,
        idempotency_key=idempotency_key,
        payload=payload,
        predecessor_id=predecessor.id,
        registered_practice_from_pds=registered_practice_from_pds,
    )
    if idempotency_key is not None and uow.recommendations.find_idempotency_key(
        client_id=client_id, key=idempotency_key
    ):
        # A retry of a re-open already done: intake answers exactly as it did the first time.
        return intake.submit(uow, command, now=now)
    existing = successor_of(uow, predecessor.id)
    if existing is not None:
        raise ReopenRefused(f"already re-opened as {existing.id}")
    expired = is_expired(uow, predecessor, now=now, policy=policy)
    if predecessor.status not in REOPENABLE and not expired:
        raise ReopenRefused(
            f"a recommendation in status {predecessor.status!r} is still in progress; only "
            f"{', '.join(sorted(REOPENABLE))} or expired ones can be re-opened"
        )
    if predecessor.status not in ("rejected", "cancelled"):
        # Closed so the old request is no longer polled, chased, reminded or replayed, and
        # withdrawn from the practice that has it: the successor replaces it there.
        closed = apply_status(
            uow,
            StatusChange(
                predecessor.id,
                "cancelled",
                source="practitioner",
                detail="expired; re-opened" if expired else "re-opened",
            ),
            now=now,
        )
        if closed:
            withdrawals.withdraw(uow, predecessor.id, reason=withdrawals.REOPENED_REASON, now=now)
    try:
        return intake.submit(uow, command, now=now)
    except IntegrityError as exc:
        # Another re-open of the same recommendation committed first.
        uow.rollback()
        raise ReopenRefused("already re-opened") from exc
