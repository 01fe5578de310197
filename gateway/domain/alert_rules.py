"""Alerts without floods: the rule table, pure (gateway.services.alerts evaluates it for beat).

| rule | subject | raised when | held for |
|---|---|---|---|
| `dead-letters` | practice | at least `alert_dead_letter_threshold` deliveries to it were dead-lettered in the last hour and are not replayed | at once |
| `circuit-open` | practice | its circuit breaker has not been closed for `alert_circuit_open_minutes` | N minutes |
| `outbox-lag` | `outbox` | the oldest unpublished outbox job is older than `alert_outbox_lag_seconds` | at once |

A condition seen for the first time opens an alert (one per rule and subject: the database
refuses a second while one is open). It is *raised* — shown as firing and sent to the
engineers' channel — once it has lasted as long as its rule asks, and *resolved* the first
evaluation that no longer sees it; a condition that clears before being raised leaves no
trace. However many attempts fail meanwhile and however often beat evaluates, engineers get
one message when it is raised and one when it clears.

Every field of an alert is about practices and queues: never a patient.
"""  # noqa: E501

from dataclasses import dataclass
from datetime import timedelta

DEAD_LETTERS = "dead-letters"
CIRCUIT_OPEN = "circuit-open"
OUTBOX_LAG = "outbox-lag"
RULES = (DEAD_LETTERS, CIRCUIT_OPEN, OUTBOX_LAG)
DEAD_LETTER_WINDOW = timedelta(hours=1)
NOTICE_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class AlertRules:
    dead_letter_threshold: int
    circuit_open_for: timedelta
    outbox_lag_limit_seconds: float


@dataclass(frozen=True)
class Facts:
    """What the rules look at, read in one transaction."""

    dead_letters: dict[str, int]  # practice -> dead-lettered in the window, not replayed
    open_circuits: dict[str, str]  # practice -> open | half-open
    outbox_lag_seconds: float


@dataclass(frozen=True)
class Condition:
    """Something wrong now: raised when it has lasted `hold`."""

    rule: str
    subject: str
    detail: str
    hold: timedelta


def conditions(facts: Facts, rules: AlertRules) -> list[Condition]:
    """The rule table applied to the facts. Pure."""
    found: list[Condition] = []
    for ods, count in sorted(facts.dead_letters.items()):
        if count >= rules.dead_letter_threshold:
            letters = "delivery" if count == 1 else "deliveries"
            found.append(
                Condition(
                    DEAD_LETTERS,
                    ods,
                    f"{count} {letters} to {ods} dead-lettered in the last hour",
                    timedelta(0),
                )
            )
    for ods, state in sorted(facts.open_circuits.items()):
        found.append(
            Condition(
                CIRCUIT_OPEN,
                ods,
                f"the circuit breaker for {ods} is {state}: its GP system keeps failing",
                rules.circuit_open_for,
            )
        )
    if facts.outbox_lag_seconds > rules.outbox_lag_limit_seconds:
        found.append(
            Condition(
                OUTBOX_LAG,
                "outbox",
                f"the oldest unpublished outbox job is {facts.outbox_lag_seconds:.0f} s old "
                f"(limit {rules.outbox_lag_limit_seconds:.0f} s): is beat running?",
                timedelta(0),
            )
        )
    return found
