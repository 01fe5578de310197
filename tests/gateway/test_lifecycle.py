"""The lifecycle state machine: its table, its diagram, and how updates go through it."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.domain.lifecycle import (
    STATUSES,
    TABLE,
    TERMINAL,
    TRANSITIONS,
    decide,
    diagram_in,
    mermaid,
    with_diagram,
)
from gateway.domain.retry_policy import RetryPolicy
from gateway.practice_directory import dev_directory, seed
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import submit
from workers.runtime import Runtime, channel_factory, gp_system_factory

ROOT = Path(__file__).resolve().parents[2]


def test_the_diagram_in_the_docs_is_the_table() -> None:
    document = (ROOT / "docs" / "LIFECYCLE.md").read_text()
    assert diagram_in(document) == mermaid(), (
        "docs/LIFECYCLE.md is out of date: run "
        "`.venv/bin/python -m gateway.domain.lifecycle docs/LIFECYCLE.md`"
    )


def test_the_diagram_has_one_edge_per_transition() -> None:
    edges = [
        line.strip() for line in mermaid().splitlines() if " --> " in line and "[*]" not in line
    ]
    assert len(edges) == len(TABLE)
    assert "delivery_failed --> queued : requeued" in edges


def test_regenerating_replaces_only_the_diagram() -> None:
    stale = "intro\n<!-- lifecycle:begin -->\n```mermaid\nold\n```\n<!-- lifecycle:end -->\nend\n"
    fresh = with_diagram(stale)
    assert fresh.startswith("intro\n")
    assert fresh.endswith("end\n")
    assert diagram_in(fresh) == mermaid()
    with pytest.raises(ValueError, match="lifecycle:begin"):
        with_diagram("no markers here")


def test_the_table_uses_only_the_public_status_words_once_each() -> None:
    pairs = [(t.source, t.target) for t in TABLE]
    assert len(pairs) == len(set(pairs))
    assert {s for pair in pairs for s in pair} == set(STATUSES)
    assert all(t.event for t in TABLE)
    # Stopped before anything left (PDS/ODS): nothing more can happen to those either.
    assert set(TERMINAL) == {
        "rejected",
        "collected",
        "cancelled",
        "identity-mismatch",
        "no-usable-practice",
    }
    # Everything but the end states can still move; only the start has no way in.
    reachable = {t.target for t in TABLE}
    assert set(STATUSES) - reachable == {"received"}


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("collected", "accepted"),
        ("ready-to-collect", "accepted"),
        ("ready-to-collect", "prescription-issued"),
        ("rejected", "accepted"),
        ("cancelled", "queued"),
        ("received", "collected"),
        ("prescription-issued", "rejected"),
    ],
)
def test_illegal_and_stale_transitions_are_refused(current: str, target: str) -> None:
    decision = decide(current, target)
    assert not decision.applied
    assert decision.event is None
    assert decision.reason == f"{current} -> {target} is not an allowed transition"
    assert target not in TRANSITIONS[current]


@pytest.mark.parametrize("current", ["queued", "delivered", "accepted", "appointment-needed"])
def test_a_poll_that_missed_the_ready_state_still_ends_collected(current: str) -> None:
    # Polls see only a Task's state now; a practice that failed every poll while the
    # prescription was ready is next seen with it collected.
    decision = decide(current, "collected")
    assert decision.applied
    assert decision.event == "collected"


def test_each_allowed_transition_emits_its_event() -> None:
    assert decide("accepted", "ready-to-collect").event == "ready-to-collect"
    assert decide("delivery-failed", "queued").event == "requeued"
    assert decide("accepted", "accepted").reason == "already in this status"
    assert decide("accepted", "expired").reason == "unknown status 'expired'"


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/l.db"),
        broker=BrokerSettings(url="memory://"),
    )
    upgrade(settings.database.url)
    factory = make_session_factory(make_engine(settings.database.url))
    with UnitOfWork(factory) as uow:
        seed(uow, dev_directory(settings))
    return Runtime(
        settings=settings,
        session_factory=factory,
        gp_system_for=gp_system_factory(settings),
        channel=channel_factory(settings),
        retry_policy=RetryPolicy(1, 1, 1),
    )


def _apply(rt: Runtime, rec_id: str, status: str, source: str = "poll") -> bool:
    with UnitOfWork(rt.session_factory) as uow:
        applied = apply_status(
            uow, StatusChange(rec_id, status, source=source), now=datetime.now(UTC)
        )
        uow.commit()
    return applied


def test_a_late_update_is_recorded_as_refused_and_never_applied(rt: Runtime) -> None:
    rec_id = submit(rt)
    for status in ("delivered", "accepted", "prescription-issued", "ready-to-collect"):
        assert _apply(rt, rec_id, status)
    assert _apply(rt, rec_id, "collected", source="callback")

    # A poll that saw the practice's earlier state arrives after the collection.
    assert not _apply(rt, rec_id, "accepted", source="poll")
    assert not _apply(rt, rec_id, "collected", source="inbox")  # a repeat: quietly ignored

    with UnitOfWork(rt.session_factory) as uow:
        rec = uow.recommendations.get(rec_id)
        assert rec is not None
        assert rec.status == "collected"
        everything = uow.recommendations.timeline(rec_id, applied_only=False)
        refused = [(e.status, e.source, e.detail) for e in everything if not e.applied]
        notified = {(n.event, n.recipient) for n in uow.notifications.for_recommendation(rec_id)}
    assert refused == [("accepted", "poll", "collected -> accepted is not an allowed transition")]
    # Each applied step reached its audience once; the refused one reached nobody.
    assert ("accepted", "practitioner") in notified
    assert ("collected", "practitioner") in notified
    assert ("ready-to-collect", "service-user") in notified
    assert len([n for n in notified if n[0] == "accepted"]) == 1
