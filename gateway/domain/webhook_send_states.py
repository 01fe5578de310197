"""A webhook send's states and the only moves between them.

A webhook send is a notification on the `webhook` channel: one signed POST of an event to
the organisation's case-management app (adapters.webhook). It is `pending` until due,
`sending` while a worker holds its lease, and ends `sent`, `failed` (retry budget spent),
`suppressed` (the organisation has no subscription any more) or `superseded` (the
recommendation moved on before it went: gateway.domain.supersession).

The diagram in docs/ARCHITECTURE.md is drawn from `MACHINE`. The send itself lives in
workers.notifying, which writes `Notification.status` for every channel through
gateway.domain.notification_states: every row here is one of that table's.
"""

from enum import StrEnum
from typing import Final

from gateway.domain.state_machine import Machine, Outcome


class WebhookSendState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    SUPERSEDED = "superseded"


class WebhookSendMove(StrEnum):
    CLAIM = "claim"
    SUCCEED = "succeed"
    RETRY = "retry"  # the POST failed; budget left: pending until its backoff has passed
    GIVE_UP = "give-up"
    SUPPRESS = "suppress"  # no subscription now
    SUPERSEDE = "supersede"  # the event no longer holds


_ = WebhookSendState
# fmt: off
MACHINE: Final = Machine[WebhookSendState, WebhookSendMove]("webhook-send", _.PENDING, (
    # from          move                        to
    (_.PENDING,     WebhookSendMove.CLAIM,      _.SENDING),
    # A worker that died mid-send: its lapsed lease is taken again.
    (_.SENDING,     WebhookSendMove.CLAIM,      _.SENDING),
    (_.SENDING,     WebhookSendMove.SUCCEED,    _.SENT),
    (_.SENDING,     WebhookSendMove.RETRY,      _.PENDING),
    (_.SENDING,     WebhookSendMove.GIVE_UP,    _.FAILED),
    (_.SENDING,     WebhookSendMove.SUPPRESS,   _.SUPPRESSED),
    (_.SENDING,     WebhookSendMove.SUPERSEDE,  _.SUPERSEDED),
))
# fmt: on


def apply(current: WebhookSendState | str, move: WebhookSendMove) -> Outcome[WebhookSendState]:
    """Whether `move` may happen to a webhook send in `current`, and the state it leads to."""
    return MACHINE.apply(WebhookSendState(current), move)
