"""A notification's transition table: the moves a send, a digest and a late report may make,
the ones refused, and that nothing but the machine writes `Notification.status`."""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.domain import notification_states, webhook_send_states
from gateway.domain.notification_states import (
    MACHINE,
    NotificationMove,
    NotificationState,
    first_state,
)
from gateway.domain.state_machine import Verdict

ROOT = Path(__file__).resolve().parents[2]
_ = NotificationState
FINISHED = (_.SENT, _.FAILED, _.SUPPRESSED, _.SUPERSEDED)


@dataclass
class _Row:
    status: str


def test_the_states_are_the_words_already_stored() -> None:
    # Rows written before the table existed hold these words; renaming one strands them.
    assert {s.value for s in NotificationState} == {
        "pending",
        "sending",
        "held",
        "sent",
        "failed",
        "suppressed",
        "superseded",
    }


def test_a_send_claims_a_due_message_or_one_whose_sender_died() -> None:
    assert MACHINE.sources_of(NotificationMove.CLAIM) == (_.PENDING, _.SENDING)
    assert MACHINE.target_of(NotificationMove.CLAIM) is _.SENDING
    for state in ("pending", "sending"):
        outcome = notification_states.apply(state, NotificationMove.CLAIM)
        assert outcome.applied
        assert outcome.state is _.SENDING


@pytest.mark.parametrize("state", ["held", *FINISHED])
def test_a_held_or_finished_message_is_not_claimed_for_a_send(state: str) -> None:
    outcome = notification_states.apply(state, NotificationMove.CLAIM)
    assert outcome.verdict is Verdict.REFUSED
    assert outcome.state == state
    assert outcome.reason == f"claim is not allowed from {state}"


def test_only_a_held_message_goes_into_a_digest() -> None:
    assert MACHINE.sources_of(NotificationMove.BATCH) == (_.HELD,)
    assert notification_states.apply("held", NotificationMove.BATCH).state is _.SENDING
    assert notification_states.apply("pending", NotificationMove.BATCH).refused


@pytest.mark.parametrize(
    ("move", "to"),
    [
        (NotificationMove.DEFER, _.PENDING),
        (NotificationMove.HOLD, _.HELD),
        (NotificationMove.SUCCEED, _.SENT),
        (NotificationMove.RETRY, _.PENDING),
        (NotificationMove.GIVE_UP, _.FAILED),
        (NotificationMove.SUPPRESS, _.SUPPRESSED),
        (NotificationMove.SUPERSEDE, _.SUPERSEDED),
    ],
)
def test_a_message_being_sent_moves_to_what_became_of_it(
    move: NotificationMove, to: NotificationState
) -> None:
    outcome = notification_states.apply("sending", move)
    assert outcome.verdict is Verdict.APPLIED
    assert outcome.state is to


def test_only_a_sent_message_has_nowhere_left_to_go() -> None:
    assert MACHINE.terminal() == (_.SENT,)


@pytest.mark.parametrize("state", FINISHED)
def test_a_finished_message_moves_only_on_a_late_report_that_it_went(
    state: NotificationState,
) -> None:
    for move in NotificationMove:
        outcome = notification_states.apply(state, move)
        if move is NotificationMove.SUCCEED:
            assert outcome.state is _.SENT
        else:
            assert not outcome.applied, move


def test_a_late_failure_does_not_revive_a_settled_message() -> None:
    # Retrying a superseded or suppressed message would send what must not be sent.
    for state in ("sent", "superseded", "suppressed", "held"):
        assert notification_states.apply(state, NotificationMove.RETRY).refused
    for state in ("sent", "superseded", "suppressed", "held"):
        assert notification_states.apply(state, NotificationMove.GIVE_UP).refused


def test_a_late_success_marks_a_message_put_back_to_wait_as_sent() -> None:
    # Otherwise the sweep or the digest would send it a second time.
    for state in ("pending", "held"):
        assert notification_states.apply(state, NotificationMove.SUCCEED).state is _.SENT


def test_repeating_a_move_that_already_happened_is_unchanged() -> None:
    repeats = [
        ("sent", NotificationMove.SUCCEED),
        ("failed", NotificationMove.GIVE_UP),
        ("superseded", NotificationMove.SUPERSEDE),
        ("held", NotificationMove.HOLD),
        ("pending", NotificationMove.RETRY),
    ]
    for state, move in repeats:
        assert notification_states.apply(state, move).verdict is Verdict.UNCHANGED, move


def test_a_message_waiting_is_not_sent_failed_or_held_without_a_claim() -> None:
    assert notification_states.apply("pending", NotificationMove.HOLD).refused
    assert notification_states.apply("pending", NotificationMove.SUPERSEDE).refused
    assert notification_states.apply("held", NotificationMove.GIVE_UP).refused


def test_an_unreachable_addressee_is_queued_suppressed() -> None:
    assert first_state(reachable=True) is _.PENDING
    assert first_state(reachable=False) is _.SUPPRESSED


def test_move_writes_the_status_only_when_the_move_applies() -> None:
    row = _Row("pending")
    assert notification_states.move(row, NotificationMove.CLAIM).applied
    assert row.status == "sending"
    assert type(row.status) is str  # stored as the plain word
    assert notification_states.move(row, NotificationMove.SUCCEED).applied
    assert notification_states.move(row, NotificationMove.RETRY).refused
    assert row.status == "sent"


def test_an_unknown_status_word_is_an_error_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="delivered"):
        notification_states.apply("delivered", NotificationMove.CLAIM)


def test_every_webhook_send_move_is_a_notification_move() -> None:
    # A webhook send is a notification on the webhook channel, written by this machine.
    webhook = webhook_send_states.MACHINE
    assert webhook.initial.value == MACHINE.initial.value
    rows = {(m.source.value, m.move.value, m.target.value) for m in MACHINE.table}
    for m in webhook.table:
        assert (m.source.value, m.move.value, m.target.value) in rows


# Nothing else writes Notification.status.

# Rows and objects with a `status` of their own: a recommendation's (through the lifecycle),
# an API client's, and exceptions' and value objects' own fields. A write to `.status` on
# any other name is taken to be a notification's.
_OTHER_STATUSES = {"self", "recommendation", "client"}
_MACHINE_MODULE = Path("gateway/domain/notification_states.py")


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        found = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        found = [node.target]
    else:
        return []
    flat: list[ast.expr] = []
    while found:
        target = found.pop()
        if isinstance(target, ast.Tuple | ast.List):
            found.extend(target.elts)
        elif isinstance(target, ast.Starred):
            found.append(target.value)
        else:
            flat.append(target)
    return flat


def _status_writes(source: str) -> list[str]:
    """Each place in `source` that writes a notification's status other than by `move`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        for target in _targets(node):
            if (
                isinstance(target, ast.Attribute)
                and target.attr == "status"
                and ast.unparse(target.value) not in _OTHER_STATUSES
            ):
                found.append(f"line {target.lineno}: {ast.unparse(target)} = ...")
        if not isinstance(node, ast.Call):
            continue
        callee = ast.unparse(node.func)
        if callee == "setattr" and any(
            isinstance(a, ast.Constant) and a.value == "status" for a in node.args
        ):
            found.append(f"line {node.lineno}: setattr(..., 'status', ...)")
        # A new row, or a bulk UPDATE: its status word must come from the machine.
        writes_rows = callee == "Notification" or (
            callee.endswith(".values") and "(Notification)" in callee
        )
        for keyword in node.keywords:
            if writes_rows and keyword.arg == "status" and isinstance(keyword.value, ast.Constant):
                found.append(f"line {node.lineno}: {callee}(status={keyword.value.value!r})")
    return found


def test_the_scan_finds_each_way_of_writing_a_status_directly() -> None:
    source = """
notification.status = "sent"
item.status, item.error = "failed", str(error)
setattr(row, "status", "held")
Notification(id=x, status="pending")
update(Notification).where(Notification.id == i).values(status="sending")
recommendation.status = change.status
self.status = status
update(Notification).values(status=_LEASED.value)
"""
    assert len(_status_writes(source)) == 5


def test_nothing_but_the_machine_writes_a_notification_status() -> None:
    offenders: dict[str, list[str]] = {}
    for room in ("gateway", "workers", "adapters", "fhir_profiles"):
        for path in sorted((ROOT / room).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative == _MACHINE_MODULE:
                continue
            if found := _status_writes(path.read_text()):
                offenders[str(relative)] = found
    assert offenders == {}, (
        "write Notification.status with gateway.domain.notification_states.move "
        "(or, for another table's status, name its row as in _OTHER_STATUSES)"
    )


def test_the_machine_module_is_where_the_status_is_written() -> None:
    # The exemption above covers a real writer: if it moves, the scan must move with it.
    found = _status_writes((ROOT / _MACHINE_MODULE).read_text())
    assert [where.split(": ", 1)[1] for where in found] == ["notification.status = ..."]
