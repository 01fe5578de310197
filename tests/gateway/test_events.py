"""Repeating events are typed values stored as their text: "chase-up-2" is chase-up 2."""

from gateway.domain.audience import addressees
from gateway.domain.events import ChaseUpEvent, NumberedEvent, event_kind, event_number


def test_a_chase_up_event_is_stored_as_the_text_listeners_know() -> None:
    assert str(ChaseUpEvent.sent(2)) == "chase-up-2"
    assert str(ChaseUpEvent.stopped(1)) == "chase-up-stopped-1"


def test_a_stored_event_reads_back_as_its_kind_and_number() -> None:
    assert NumberedEvent.parse("chase-up-stopped-3") == NumberedEvent("chase-up-stopped", 3)
    assert NumberedEvent.parse(str(ChaseUpEvent.sent(12))) == NumberedEvent("chase-up", 12)
    assert event_kind("collection-reminder-2") == "collection-reminder"
    assert event_number("collection-reminder-2") == 2


def test_an_event_without_a_number_is_its_own_kind() -> None:
    for event in ("ready-to-collect", "delivery-failed", "chase-up", "-3"):
        assert NumberedEvent.parse(event) is None
        assert event_kind(event) == event
        assert event_number(event) is None


def test_every_chase_up_is_told_to_the_practitioner() -> None:
    told = addressees(str(ChaseUpEvent.sent(3)), {"service_user": {}})
    assert [a.recipient for a in told] == ["practitioner"]
