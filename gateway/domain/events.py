"""Events as typed values. An event that repeats carries its number so each is told once
("chase-up-2", "collection-reminder-3"); its kind ("chase-up") chooses the audience,
wording and Notify template. Stored (Notification.event) as the text `str()` gives."""

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class NumberedEvent:
    kind: str
    number: int

    def __str__(self) -> str:
        return f"{self.kind}-{self.number}"

    @classmethod
    def parse(cls, event: str) -> "NumberedEvent | None":
        """The event stored as `event`, or None if it carries no number."""
        kind, dash, number = event.rpartition("-")
        if not dash or not kind or not number.isdecimal():
            return None
        return cls(kind, int(number))


CHASE_UP: Final = "chase-up"
CHASE_UP_STOPPED: Final = "chase-up-stopped"


@dataclass(frozen=True)
class ChaseUpEvent(NumberedEvent):
    """Chase-up `number` went to the practice, or chasing stopped at it."""

    @classmethod
    def sent(cls, number: int) -> "ChaseUpEvent":
        return cls(CHASE_UP, number)

    @classmethod
    def stopped(cls, number: int) -> "ChaseUpEvent":
        return cls(CHASE_UP_STOPPED, number)


def event_kind(event: str) -> str:
    """The kind of an event as stored: its text without the repeat's number."""
    numbered = NumberedEvent.parse(event)
    return numbered.kind if numbered else event


def event_number(event: str) -> int | None:
    numbered = NumberedEvent.parse(event)
    return numbered.number if numbered else None
