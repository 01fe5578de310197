"""What a practice's staff decide in the inbox: the request moves on as the practice's own GP
system would move it (a new version of the Task), and a decision the inbox refuses says what
to correct and changes nothing. Over the in-memory unit of work (tests/fakes.py)."""

import pytest

from gateway.domain.errors import ErrorKind
from gateway.services import practice_inbox, withdrawals
from gateway.services.practice_inbox import InboxRefusal
from tests.fakes import FakeUnitOfWork
from tests.gateway.fake_samples import NOW, OTHER_PRACTICE, PRACTICE, store, submitted


def _task_version(uow: FakeUnitOfWork, rec_id: str) -> tuple[int, str | None]:
    """The stored Task's version and the status word it reports (None before any)."""
    (task,) = [r for r in uow.recommendations.resources_for(rec_id) if r.resource_type == "Task"]
    codes = task.body.get("businessStatus", {}).get("coding", [])
    return task.version_id, codes[0]["code"] if codes else None


def _act(uow: FakeUnitOfWork, rec_id: str, action: str, **given: str) -> str:
    return practice_inbox.act(
        uow,
        given.get("practice", PRACTICE),
        rec_id,
        action,
        reason=given.get("reason"),
        pharmacy=given.get("pharmacy"),
        now=NOW,
    )


def test_rejecting_with_a_reason_moves_the_request_and_its_task_on() -> None:
    uow = store()
    rec_id = submitted(uow, "delivered")
    version, _ = _task_version(uow, rec_id)
    assert _act(uow, rec_id, "reject", reason="  Not suitable: on bupropion ") == "rejected"
    recommendation = uow.recommendations.get(rec_id)
    assert recommendation is not None
    assert recommendation.status == "rejected"
    assert _task_version(uow, rec_id) == (version + 1, "rejected")
    (event,) = [e for e in uow.recommendations.timeline(rec_id) if e.status == "rejected"]
    assert (event.source, event.detail) == ("inbox", "Not suitable: on bupropion")
    assert not uow.committed  # the inbox page commits, once it has its answer


@pytest.mark.parametrize(
    ("status", "action", "given", "field", "says"),
    [
        ("delivered", "approve", {}, "action", "unknown action 'approve'"),
        ("delivered", "reject", {"reason": "   "}, "reason", "give a reason"),
        ("delivered", "accept", {"practice": OTHER_PRACTICE}, "recommendation", "no such"),
        ("collected", "accept", {}, "action", "a request that is collected cannot be moved"),
    ],
)
def test_a_refused_decision_says_what_to_correct_and_changes_nothing(
    status: str, action: str, given: dict[str, str], field: str, says: str
) -> None:
    uow = store()
    rec_id = submitted(uow, status)
    before = _task_version(uow, rec_id)
    with pytest.raises(InboxRefusal) as refused:
        _act(uow, rec_id, action, **given)
    assert (refused.value.field, refused.value.kind) == (field, ErrorKind.INVALID)
    assert says in str(refused.value)
    recommendation = uow.recommendations.get(rec_id)
    assert recommendation is not None
    assert recommendation.status == status
    assert _task_version(uow, rec_id) == before


def test_a_withdrawn_request_is_a_conflict_whatever_the_action() -> None:
    uow = store()
    rec_id = submitted(uow, "delivered")
    assert withdrawals.cancel(uow, rec_id, reason="Stopped smoking", now=NOW)
    with pytest.raises(InboxRefusal) as refused:
        _act(uow, rec_id, "accept")
    assert refused.value.kind is ErrorKind.CONFLICT
    assert "withdrawn by the practitioner" in str(refused.value)
    shown = practice_inbox.item(uow, PRACTICE, rec_id)
    assert shown is not None
    assert shown.withdrawn_reason == "Stopped smoking"
