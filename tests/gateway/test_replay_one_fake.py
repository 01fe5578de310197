"""An engineer replaying one dead delivery: it goes again as a new delivery the practice sees
as the same request, and the recommendation is queued again; a delivery that is not there,
not dead, or carries a request since withdrawn is refused and nothing changes. Over the
in-memory unit of work (tests/fakes.py)."""

import pytest

from gateway.domain.errors import ErrorKind
from gateway.services import withdrawals
from gateway.services.delivery_ops import replay_one
from gateway.services.replay import NotReplayable
from tests.fakes import FakeUnitOfWork
from tests.gateway.fake_samples import NOW, store, submitted


def _dead_request(uow: FakeUnitOfWork, status: str = "delivery-failed") -> str:
    rec_id = submitted(uow, status, delivered=False)
    (request,) = uow.deliveries.for_recommendation(rec_id)
    request.state, request.attempt_count, request.last_error = "dead", 5, "HTTP 503"
    uow.commit()
    uow.committed = False
    return request.id


def test_a_dead_request_goes_again_as_the_same_request_and_commits() -> None:
    uow = store()
    dead_id = _dead_request(uow)
    out = replay_one(uow, dead_id, now=NOW)
    assert uow.committed
    original, replay = uow.deliveries.get(dead_id), uow.deliveries.get(out.replay)
    assert original is not None
    assert replay is not None
    assert original.state == "replayed"  # kept, marked: nothing is pruned
    assert (replay.replay_of, replay.external_id, replay.state) == (
        dead_id,
        original.external_id,
        "pending",
    )
    assert ("deliver", replay.id) in uow.outbox.messages
    recommendation = uow.recommendations.get(original.recommendation_id)
    assert recommendation is not None
    assert recommendation.status == "queued"


@pytest.mark.parametrize(
    ("which", "kind", "says"),
    [
        ("unknown", ErrorKind.NOT_FOUND, "no delivery"),
        ("delivered", ErrorKind.CONFLICT, "only dead deliveries are replayed"),
        ("withdrawn", ErrorKind.CONFLICT, "carries a request that was withdrawn"),
    ],
)
def test_what_cannot_be_replayed_is_refused_and_nothing_changes(
    which: str, kind: ErrorKind, says: str
) -> None:
    uow = store()
    if which == "delivered":
        rec_id = submitted(uow, "delivered")
        (request,) = uow.deliveries.for_recommendation(rec_id)
        delivery_id = request.id
    else:
        delivery_id = _dead_request(uow)
    if which == "withdrawn":
        # Cancelled while an attempt was under way (so not stopped, and withdrawn since it
        # may have arrived); that attempt then failed for good.
        sending = uow.deliveries.get(delivery_id)
        assert sending is not None
        sending.state = "in-flight"
        assert withdrawals.cancel(uow, sending.recommendation_id, reason="Stopped", now=NOW)
        sending.state = "dead"
        uow.commit()
        uow.committed = False
    before = len(uow.working.deliveries)
    with pytest.raises(NotReplayable) as refused:
        replay_one(uow, "nope" if which == "unknown" else delivery_id, now=NOW)
    assert refused.value.kind is kind
    assert says in str(refused.value)
    assert not uow.committed
    assert len(uow.working.deliveries) == before
