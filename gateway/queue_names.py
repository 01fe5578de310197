"""Liaison's broker queues, named once: the worker consumes them, `liaison migrate` declares
them, the ops view and /metrics report their depth, and the task routes point at them."""

from enum import StrEnum
from typing import Final


class Queue(StrEnum):
    DELIVERY = "delivery"  # sends to GP systems: deliveries and chase-ups
    POLL = "poll"  # reads from GP systems: status polls and the MESH inbox
    NOTIFY = "notify"  # messages to service users and care teams
    CONTROL = "control"  # the default: relay, sweeps and the scheduled checks


QUEUES: Final[tuple[str, ...]] = tuple(q.value for q in Queue)
