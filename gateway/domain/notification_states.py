"""A notification's states and the only moves between them.

A notification is one message about one event to one recipient (a service user's text or
email, a practitioner's email, a named person's copy, a webhook POST). It is `pending` when
queued, while quiet hours or a retry's backoff keep it back (`not_before`), and `sending`
while a worker holds its lease; a practitioner who takes a daily digest has it `held` until
the digest's time, when the digest claims it into a batch. It ends `sent`, `failed` (the
provider refused it, or the retry budget is spent), `suppressed` (no way to reach the
recipient: no address or consent, or no webhook subscription any more) or `superseded`
(what it would say no longer holds: gateway.domain.supersession). Only a late report that
it went moves it on from there: to `sent`.

Every write of `Notification.status` goes through `move`; the claims
(gateway.store.repositories.notifications) take their from- and to-states from `MACHINE`,
and the diagram in docs/ARCHITECTURE.md is drawn from it. A webhook send
(gateway.domain.webhook_send_states) is this machine on the `webhook` channel.
"""

from enum import StrEnum
from typing import Final, Protocol

from gateway.domain.state_machine import Machine, Outcome


class NotificationState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    HELD = "held"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    SUPERSEDED = "superseded"


class NotificationMove(StrEnum):
    CLAIM = "claim"  # a worker takes the lease for one send (a lapsed lease may be taken again)
    BATCH = "batch"  # a practitioner's digest takes its due held messages
    DEFER = "defer"  # quiet hours: wait for the morning without an attempt
    HOLD = "hold"  # wait for the practitioner's next digest
    SUCCEED = "succeed"  # the provider (or the webhook receiver) accepted it
    RETRY = "retry"  # the send failed; budget left: pending until its backoff has passed
    GIVE_UP = "give-up"  # refused by the provider, or the retry budget is spent
    SUPPRESS = "suppress"  # no way to reach the recipient
    SUPERSEDE = "supersede"  # what it would say no longer holds


_ = NotificationState
# fmt: off
MACHINE: Final = Machine[NotificationState, NotificationMove]("notification", _.PENDING, (
    # from          move                            to
    (_.PENDING,     NotificationMove.CLAIM,         _.SENDING),
    # A worker that died mid-send: its lapsed lease is taken again.
    (_.SENDING,     NotificationMove.CLAIM,         _.SENDING),
    (_.HELD,        NotificationMove.BATCH,         _.SENDING),
    (_.SENDING,     NotificationMove.DEFER,         _.PENDING),
    # Also a digest that failed for now: its messages go back for the next digest run.
    (_.SENDING,     NotificationMove.HOLD,          _.HELD),
    (_.SENDING,     NotificationMove.SUCCEED,       _.SENT),
    (_.SENDING,     NotificationMove.RETRY,         _.PENDING),
    (_.SENDING,     NotificationMove.GIVE_UP,       _.FAILED),
    (_.SENDING,     NotificationMove.SUPPRESS,      _.SUPPRESSED),
    (_.SENDING,     NotificationMove.SUPERSEDE,     _.SUPERSEDED),
    # Queued for an addressee who cannot be reached: recorded, never sent.
    (_.PENDING,     NotificationMove.SUPPRESS,      _.SUPPRESSED),
    # A send that outlived its lease still reports what the provider said. That it went is
    # a fact whatever another worker decided meanwhile: the record says the person was told
    # (and a message put back to wait is not sent twice).
    (_.PENDING,     NotificationMove.SUCCEED,       _.SENT),
    (_.HELD,        NotificationMove.SUCCEED,       _.SENT),
    (_.FAILED,      NotificationMove.SUCCEED,       _.SENT),
    (_.SUPPRESSED,  NotificationMove.SUCCEED,       _.SENT),
    (_.SUPERSEDED,  NotificationMove.SUCCEED,       _.SENT),
    # A late failure only ends a message that was put back to wait; one that another worker
    # settled (sent, held for a digest, suppressed, superseded) stays as it is.
    (_.PENDING,     NotificationMove.GIVE_UP,       _.FAILED),
))
# fmt: on


class HasStatus(Protocol):
    """A row with a status column (the ORM model, or a test's stand-in)."""

    status: str


def apply(current: NotificationState | str, move: NotificationMove) -> Outcome[NotificationState]:
    """Whether `move` may happen to a notification in `current`, and the state it leads to."""
    return MACHINE.apply(NotificationState(current), move)


def move(notification: HasStatus, move: NotificationMove) -> Outcome[NotificationState]:
    """Apply `move` to a notification row; its status is written only if the move applies.
    The one place `Notification.status` is assigned (the column is `status`, not `state`,
    so `Machine.move` does not fit it)."""
    outcome = apply(notification.status, move)
    if outcome.applied:
        notification.status = outcome.state.value
    return outcome


def first_state(*, reachable: bool) -> NotificationState:
    """The state a notification is queued in: pending, or suppressed at once for an
    addressee who cannot be reached."""
    if reachable:
        return MACHINE.initial
    return apply(MACHINE.initial, NotificationMove.SUPPRESS).state
