"""The rule of which waiting messages still hold: complete, consistent with the lifecycle
and the chase-up policy, and shown as it is in docs/LIFECYCLE.md."""

from pathlib import Path

import pytest

from gateway.domain.audience import AUDIENCE
from gateway.domain.chase_policy import CHASED_STATUS
from gateway.domain.lifecycle import STATUSES, TERMINAL, TRANSITIONS
from gateway.domain.supersession import (
    HOLDS_IN,
    markdown,
    people_told,
    superseded_because,
    table_in,
    with_table,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_a_person_can_be_sent_has_a_row() -> None:
    assert people_told() == set(HOLDS_IN)
    assert set(HOLDS_IN) <= set(AUDIENCE)
    assert all(row.holds_in <= set(STATUSES) for row in HOLDS_IN.values())


def test_each_message_holds_in_the_status_that_raises_it() -> None:
    # Otherwise it could never be sent at all.
    for kind in set(HOLDS_IN) & set(STATUSES):
        assert superseded_because(kind, recipient="practitioner", status=kind) is None


def test_news_of_a_final_status_always_holds() -> None:
    for final in TERMINAL & set(HOLDS_IN):
        assert not TRANSITIONS[final]
        assert HOLDS_IN[final].holds_in == set(STATUSES)


def test_chase_ups_hold_exactly_while_the_practice_is_chased() -> None:
    assert HOLDS_IN["chase-up"].holds_in == {CHASED_STATUS}
    assert superseded_because("chase-up-3", recipient="practitioner", status=CHASED_STATUS) is None
    assert superseded_because("chase-up-3", recipient="practitioner", status="accepted")


@pytest.mark.parametrize(
    ("event", "recipient", "status", "holds"),
    [
        ("ready-to-collect", "service-user", "ready-to-collect", True),
        ("ready-to-collect", "service-user", "collected", False),
        ("ready-to-collect", "practitioner", "collected", False),
        ("collection-reminder-2", "service-user", "collected", False),
        ("appointment-needed", "service-user", "accepted", False),
        ("delivery-failed", "practitioner", "queued", False),
        ("accepted", "practitioner", "rejected", False),
        ("accepted", "practitioner", "collected", True),
        ("delivered", "practitioner", "rejected", True),
        ("clinical-safety-flag", "care-team", "cancelled", True),
        # The app's feed hears every event, whatever happened since.
        ("ready-to-collect", "case-management", "collected", True),
    ],
)
def test_a_waiting_message_is_dropped_once_the_status_has_moved_past_its_event(
    event: str, recipient: str, status: str, holds: bool
) -> None:
    assert (superseded_because(event, recipient=recipient, status=status) is None) is holds


def test_the_table_in_the_docs_is_the_rule() -> None:
    document = (ROOT / "docs" / "LIFECYCLE.md").read_text()
    assert table_in(document) == markdown(), (
        "docs/LIFECYCLE.md is out of date: run "
        "`.venv/bin/python -m gateway.domain.supersession docs/LIFECYCLE.md`"
    )


def test_regenerating_replaces_only_the_table() -> None:
    stale = "intro\n<!-- supersession:begin -->\nold\n<!-- supersession:end -->\nend\n"
    fresh = with_table(stale)
    assert fresh.startswith("intro\n")
    assert fresh.endswith("end\n")
    assert table_in(fresh) == markdown()
    with pytest.raises(ValueError, match="supersession:begin"):
        with_table("no markers")
