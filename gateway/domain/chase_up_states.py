"""A chase-up's states and the only moves between them.

A chase-up (a follow-up: a reminder to a practice that has not acted) is `pending` when
planned and between attempts, `sending` while a worker holds its lease, and ends `sent`,
`failed` (retry budget spent, or the practice system refused it) or `stopped` (the practice
acted first, it closed, or the service user re-registered elsewhere). A lapsed lease is
claimed again from `sending` (gateway.store.repositories.follow_ups).

Every write of `ChaseUp.state` goes through `apply`; the diagram in docs/ARCHITECTURE.md is
drawn from `MACHINE`.
"""

from enum import StrEnum
from typing import Final

from gateway.domain.state_machine import HasState, Machine, Outcome


class ChaseUpState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    STOPPED = "stopped"


class ChaseUpMove(StrEnum):
    CLAIM = "claim"  # a worker takes the lease (a lapsed lease may be taken again)
    DEFER = "defer"  # the practice's gate is shut: wait without an attempt
    SUCCEED = "succeed"
    RETRY = "retry"  # the attempt failed; budget left
    GIVE_UP = "give-up"
    STOP = "stop"  # the practice acted first, closed, or is no longer the service user's


_ = ChaseUpState
# fmt: off
MACHINE: Final = Machine[ChaseUpState, ChaseUpMove]("chase-up", _.PENDING, (
    # from          move                    to
    (_.PENDING,     ChaseUpMove.CLAIM,      _.SENDING),
    (_.SENDING,     ChaseUpMove.CLAIM,      _.SENDING),
    (_.SENDING,     ChaseUpMove.DEFER,      _.PENDING),
    (_.SENDING,     ChaseUpMove.SUCCEED,    _.SENT),
    (_.SENDING,     ChaseUpMove.RETRY,      _.PENDING),
    (_.SENDING,     ChaseUpMove.GIVE_UP,    _.FAILED),
    (_.SENDING,     ChaseUpMove.STOP,       _.STOPPED),
    (_.PENDING,     ChaseUpMove.STOP,       _.STOPPED),
))
# fmt: on


def apply(current: ChaseUpState | str, move: ChaseUpMove) -> Outcome[ChaseUpState]:
    """Whether `move` may happen to a chase-up in `current`, and the state it leads to."""
    return MACHINE.apply(ChaseUpState(current), move)


def move(chase_up: HasState, move: ChaseUpMove) -> Outcome[ChaseUpState]:
    """Apply `move` to a chase-up row; its state is written only if the move applies."""
    return MACHINE.move(chase_up, move)
