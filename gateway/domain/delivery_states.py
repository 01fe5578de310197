"""A delivery's states and the only moves between them.

A delivery is one message to a practice's GP system (a request or a withdrawal). It is
`pending` when written, `in-flight` while a worker holds its lease for one attempt,
`retrying` while it waits for its next turn (a failed attempt with retry budget left, a
practice whose circuit is open, PDS not answering yet), and it ends `delivered`, `dead`
(dead-lettered: listed for integration engineers), `replayed` (a dead one sent again as a
new delivery) or `stopped` (never to be sent: withdrawn, or no practice to send it to).

Every write of `Delivery.state` goes through `apply`; the diagram in docs/ARCHITECTURE.md
is drawn from `MACHINE` (`python -m gateway.domain.machine_docs` rewrites it).
"""

from enum import StrEnum
from typing import Final

from gateway.domain.state_machine import HasState, Machine, Outcome


class DeliveryState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in-flight"
    RETRYING = "retrying"
    DEAD = "dead"
    DELIVERED = "delivered"
    REPLAYED = "replayed"
    STOPPED = "stopped"


class DeliveryMove(StrEnum):
    CLAIM = "claim"  # a worker takes the lease for one attempt
    DEFER = "defer"  # wait without an attempt: gate, held back, PDS, a withdrawal waits
    RELEASE = "release"  # the lease handed back or run out: no outcome recorded
    SUCCEED = "succeed"  # the GP system has it (or MESH accepted it)
    RETRY = "retry"  # the attempt failed; budget left
    GIVE_UP = "give-up"  # dead-lettered: refused, budget spent, or MESH says it failed
    REPLAY = "replay"  # an engineer sends a dead one again (as a new delivery)
    STOP = "stop"  # never to be sent: withdrawn, or no practice to send it to


_ = DeliveryState
# fmt: off
MACHINE: Final = Machine[DeliveryState, DeliveryMove]("delivery", _.PENDING, (
    # from          move                    to
    (_.PENDING,     DeliveryMove.CLAIM,     _.IN_FLIGHT),
    (_.RETRYING,    DeliveryMove.CLAIM,     _.IN_FLIGHT),
    (_.PENDING,     DeliveryMove.DEFER,     _.RETRYING),
    (_.RETRYING,    DeliveryMove.DEFER,     _.RETRYING),
    (_.IN_FLIGHT,   DeliveryMove.RELEASE,   _.RETRYING),
    (_.IN_FLIGHT,   DeliveryMove.SUCCEED,   _.DELIVERED),
    (_.IN_FLIGHT,   DeliveryMove.RETRY,     _.RETRYING),
    (_.IN_FLIGHT,   DeliveryMove.GIVE_UP,   _.DEAD),
    # An attempt that outlived its lease still reports what the GP system said.
    (_.RETRYING,    DeliveryMove.SUCCEED,   _.DELIVERED),
    (_.RETRYING,    DeliveryMove.GIVE_UP,   _.DEAD),
    # Store-and-forward (MESH): the practice system refused it, or never collected it.
    (_.DELIVERED,   DeliveryMove.GIVE_UP,   _.DEAD),
    (_.DEAD,        DeliveryMove.REPLAY,    _.REPLAYED),
    (_.PENDING,     DeliveryMove.STOP,      _.STOPPED),
    (_.RETRYING,    DeliveryMove.STOP,      _.STOPPED),
    # Withdrawn after it failed: the withdrawal is what the practice needs now.
    (_.DEAD,        DeliveryMove.STOP,      _.STOPPED),
))
# fmt: on

# A worker may take these for an attempt.
CLAIMABLE: Final = MACHINE.sources_of(DeliveryMove.CLAIM)
# Still on its way: counted as waiting on dashboards and metrics.
WAITING: Final = (DeliveryState.PENDING, DeliveryState.IN_FLIGHT, DeliveryState.RETRYING)


def apply(current: DeliveryState | str, move: DeliveryMove) -> Outcome[DeliveryState]:
    """Whether `move` may happen to a delivery in `current`, and the state it leads to."""
    return MACHINE.apply(DeliveryState(current), move)


def move(delivery: HasState, move: DeliveryMove) -> Outcome[DeliveryState]:
    """Apply `move` to a delivery row; its state is written only if the move applies."""
    return MACHINE.move(delivery, move)
