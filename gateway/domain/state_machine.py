"""What every transition table shares: one row per allowed move, one `apply` that says
whether a move is applied, unchanged (a repeat: the thing is already where the move leads)
or refused, and the table drawn as a Mermaid state diagram for the documentation.

Pure: the deliveries', chase-ups', notifications' and webhook sends' tables
(gateway.domain.delivery_states, chase_up_states, notification_states, webhook_send_states)
are data; the store writes only what `apply` allows.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

S = TypeVar("S", bound=StrEnum)
M = TypeVar("M", bound=StrEnum)


class Verdict(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class Outcome(Generic[S]):
    verdict: Verdict
    state: S  # the state after the move (the current one unless applied)
    reason: str | None = None  # set when refused

    @property
    def applied(self) -> bool:
        return self.verdict is Verdict.APPLIED

    @property
    def refused(self) -> bool:
        return self.verdict is Verdict.REFUSED


@dataclass(frozen=True)
class Move(Generic[S, M]):
    source: S
    move: M
    target: S


class HasState(Protocol):
    """A row with a state column (an ORM model, or a test's stand-in)."""

    state: str


class Machine(Generic[S, M]):
    """A transition table: `(source, move) -> target`, nothing else allowed."""

    def __init__(self, name: str, initial: S, rows: Iterable[tuple[S, M, S]]) -> None:
        self.name = name
        self.initial = initial
        self.table: tuple[Move[S, M], ...] = tuple(Move(*row) for row in rows)
        self._targets = {(m.source, m.move): m.target for m in self.table}
        if len(self._targets) != len(self.table):
            raise ValueError(f"{name}: a (state, move) pair is listed twice")

    def apply(self, current: S, move: M) -> Outcome[S]:
        target = self._targets.get((current, move))
        if target is not None:
            return Outcome(Verdict.APPLIED, target)
        if current in self.targets_of(move):
            return Outcome(Verdict.UNCHANGED, current)
        return Outcome(Verdict.REFUSED, current, f"{move} is not allowed from {current}")

    def move(self, row: HasState, move: M) -> Outcome[S]:
        """Apply `move` to `row`: its state column is written only when the move applies."""
        outcome = self.apply(type(self.initial)(row.state), move)
        if outcome.applied:
            row.state = outcome.state.value
        return outcome

    def sources_of(self, move: M) -> tuple[S, ...]:
        return tuple(dict.fromkeys(m.source for m in self.table if m.move == move))

    def targets_of(self, move: M) -> tuple[S, ...]:
        return tuple(dict.fromkeys(m.target for m in self.table if m.move == move))

    def target_of(self, move: M) -> S:
        """The one state `move` leads to (for moves made by a query, like a claim)."""
        (target,) = self.targets_of(move)
        return target

    def terminal(self) -> tuple[S, ...]:
        states = dict.fromkeys([self.initial, *(m.source for m in self.table)])
        states.update(dict.fromkeys(m.target for m in self.table))
        leaving = {m.source for m in self.table if m.target != m.source}
        return tuple(s for s in states if s not in leaving)

    def mermaid(self) -> str:
        """The table as a Mermaid state diagram, one edge per row labelled with its move."""
        states = dict.fromkeys([self.initial, *(m.source for m in self.table)])
        states.update(dict.fromkeys(m.target for m in self.table))
        lines = ["stateDiagram-v2"]
        lines += [f'    state "{s}" as {_node(s)}' for s in states if s != _node(s)]
        lines.append(f"    [*] --> {_node(self.initial)}")
        lines += [f"    {_node(m.source)} --> {_node(m.target)} : {m.move}" for m in self.table]
        lines += [f"    {_node(s)} --> [*]" for s in self.terminal()]
        return "\n".join(lines)


def _node(state: str) -> str:
    # Mermaid state ids cannot hold "-": each state word is declared under a safe id.
    return state.replace("-", "_")


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- machine:{re.escape(name)}:begin -->\n```mermaid\n)(.*?)"
        rf"(\n```\n<!-- machine:{re.escape(name)}:end -->)",
        re.S,
    )


def diagram_in(document: str, name: str) -> str | None:
    """The diagram of machine `name` inside `document`, or None if its markers are missing."""
    found = _block(name).search(document)
    return found.group(2) if found else None


def with_diagram(document: str, name: str, diagram: str) -> str:
    """`document` with machine `name`'s diagram between its markers replaced by `diagram`."""
    if diagram_in(document, name) is None:
        raise ValueError(f"no <!-- machine:{name}:begin --> ... <!-- machine:{name}:end --> block")
    return _block(name).sub(lambda m: m.group(1) + diagram + m.group(3), document)
