"""The deliveries', chase-ups' and webhook sends' transition tables: what `apply` allows,
repeats and refuses, and how a row's state is written only through it."""

from dataclasses import dataclass

import pytest

from gateway.domain import (
    chase_up_states,
    delivery_states,
    notification_states,
    webhook_send_states,
)
from gateway.domain.chase_up_states import ChaseUpMove, ChaseUpState
from gateway.domain.delivery_states import DeliveryMove, DeliveryState
from gateway.domain.state_machine import Verdict
from gateway.domain.webhook_send_states import WebhookSendMove, WebhookSendState


@dataclass
class _Row:
    state: str


def test_a_claim_takes_a_waiting_delivery_in_flight() -> None:
    for state in ("pending", "retrying"):
        outcome = delivery_states.apply(state, DeliveryMove.CLAIM)
        assert outcome.verdict is Verdict.APPLIED
        assert outcome.state is DeliveryState.IN_FLIGHT


def test_a_finished_delivery_is_never_claimed_again() -> None:
    for state in ("delivered", "dead", "replayed", "stopped"):
        outcome = delivery_states.apply(state, DeliveryMove.CLAIM)
        assert outcome.verdict is Verdict.REFUSED
        assert outcome.state == state
        assert outcome.reason == f"claim is not allowed from {state}"


def test_repeating_a_move_that_already_happened_is_unchanged() -> None:
    assert delivery_states.apply("dead", DeliveryMove.GIVE_UP).verdict is Verdict.UNCHANGED
    assert delivery_states.apply("delivered", DeliveryMove.SUCCEED).verdict is Verdict.UNCHANGED
    assert chase_up_states.apply("stopped", ChaseUpMove.STOP).verdict is Verdict.UNCHANGED


def test_only_a_dead_delivery_is_replayed() -> None:
    assert delivery_states.MACHINE.sources_of(DeliveryMove.REPLAY) == (DeliveryState.DEAD,)
    assert delivery_states.apply("delivered", DeliveryMove.REPLAY).refused


def test_a_delivery_mid_attempt_is_not_stopped_by_a_withdrawal() -> None:
    # The withdrawal waits for the attempt instead (gateway.services.withdrawals).
    assert delivery_states.apply("in-flight", DeliveryMove.STOP).refused


def test_move_writes_the_row_only_when_the_move_applies() -> None:
    row = _Row("pending")
    assert delivery_states.move(row, DeliveryMove.CLAIM).applied
    assert row.state == "in-flight"
    assert type(row.state) is str  # stored as the plain word
    assert delivery_states.move(row, DeliveryMove.REPLAY).refused
    assert row.state == "in-flight"


def test_an_unknown_state_word_is_an_error_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="expired"):
        delivery_states.apply("expired", DeliveryMove.CLAIM)


def test_a_chase_up_whose_sender_died_is_claimed_again() -> None:
    outcome = chase_up_states.apply("sending", ChaseUpMove.CLAIM)
    assert outcome.applied
    assert outcome.state is ChaseUpState.SENDING


def test_a_sent_chase_up_is_never_stopped_or_retried() -> None:
    for move in (ChaseUpMove.STOP, ChaseUpMove.RETRY, ChaseUpMove.CLAIM):
        assert chase_up_states.apply("sent", move).refused


def test_a_webhook_send_ends_sent_failed_suppressed_or_superseded() -> None:
    assert set(webhook_send_states.MACHINE.terminal()) == {
        WebhookSendState.SENT,
        WebhookSendState.FAILED,
        WebhookSendState.SUPPRESSED,
        WebhookSendState.SUPERSEDED,
    }
    assert webhook_send_states.apply("pending", WebhookSendMove.SUCCEED).refused


def test_every_state_is_reachable_from_the_first() -> None:
    for machine in (
        delivery_states.MACHINE,
        chase_up_states.MACHINE,
        notification_states.MACHINE,
        webhook_send_states.MACHINE,
    ):
        reached = {machine.initial}
        while True:
            more = {m.target for m in machine.table if m.source in reached} - reached
            if not more:
                break
            reached |= more
        assert reached == set(type(machine.initial))


def test_the_diagram_has_one_labelled_edge_per_row() -> None:
    diagram = delivery_states.MACHINE.mermaid()
    edges = [line for line in diagram.splitlines() if " : " in line]
    assert len(edges) == len(delivery_states.MACHINE.table)
    assert "    dead --> replayed : replay" in edges
    assert '    state "in-flight" as in_flight' in diagram
