"""`liaison demo`'s words (gateway.demo_report): sentences, when it stops, its exit code."""

from typing import Any

from gateway import demo_report

BASE = "http://127.0.0.1:8000"
HELD = "SMS to the service user held until 08:00 (quiet hours)"


def _body(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "rec-1", "status": status, "notifications": [], "timeline": [], **extra}


def test_the_first_line_says_submitted_not_accepted() -> None:
    line = demo_report.submitted_line("rec-1", "Y00001")
    assert line.startswith("recommendation rec-1 submitted (HTTP 202)")
    assert "accepted" not in line


def test_each_failed_attempt_says_its_error_and_next_try() -> None:
    line = demo_report.attempt_line(
        {
            "attempts": 3,
            "last_error": "POST /fhir answered 503",
            "next_attempt_at": "2026-12-04T06:12:30Z",
        }
    )
    assert line == "  attempt 3 failed: POST /fhir answered 503; next try at 06:12:30 UTC"
    assert demo_report.attempt_line({"attempts": 1, "last_error": None}) is None


def test_while_the_next_attempt_is_in_flight_the_error_is_the_previous_attempts() -> None:
    # Attempt 1 failed, attempt 2 is being made: the error shown is attempt 1's.
    in_flight = {"attempts": 2, "state": "in-flight", "last_error": "POST /fhir answered 503"}
    assert demo_report.failed_attempts(in_flight) == 1
    assert demo_report.attempt_line(in_flight) == (
        "  attempt 1 failed: POST /fhir answered 503; attempt 2 is being made now"
    )
    # The first attempt in flight has no failure to tell.
    first = {"attempts": 1, "state": "in-flight", "last_error": None}
    assert demo_report.failed_attempts(first) == 0
    assert demo_report.attempt_line(first) is None


def test_an_open_breaker_is_said_and_a_closed_one_is_not() -> None:
    said = demo_report.breaker_line("Y00004", {"state": "open", "consecutive_failures": 5})
    assert said is not None
    assert "Y00004's circuit breaker opened after 5 failed calls to it in a row" in said
    assert demo_report.breaker_line("Y00004", {"state": "closed"}) is None


def test_a_down_practice_ends_still_retrying_with_the_console_and_a_non_zero_exit() -> None:
    told = {"event": "clinical-safety-flag", "explanation": "Email to care team member 1 sent"}
    body = _body(
        "queued",
        attempts={"attempts": 5, "last_error": "POST /fhir answered 503"},
        notifications=[told],
    )
    assert demo_report.outcome(body, base_url=BASE, breaker_open=False, timed_out=False) is None
    ending = demo_report.outcome(body, base_url=BASE, breaker_open=True, timed_out=False)
    assert ending is not None
    assert ending.exit_code == 3
    # Who was told comes first: the last line is the verdict and where to look.
    assert ending.lines[0] == "  Email to care team member 1 sent (clinical-safety-flag)"
    assert ending.lines[-1] == (
        f"still retrying, see the console at {BASE}/console/deliveries?recommendation_id=rec-1"
    )


def test_it_stops_waiting_when_only_a_person_can_move_it_on_and_says_what_next() -> None:
    held = {"event": "ready-to-collect", "explanation": HELD, "channel": "sms"}
    ending = demo_report.outcome(
        _body("ready-to-collect", notifications=[held]),
        base_url=BASE,
        breaker_open=False,
        timed_out=False,
    )
    assert ending is not None
    assert ending.exit_code == 0
    assert ending.lines[0].startswith("outcome for now: ready-to-collect; next: ")
    assert "reminder" in ending.lines[0]
    # Sentences, not a JSON list.
    assert ending.lines[1] == f"  {HELD} (ready-to-collect)"
    needed = demo_report.outcome(
        _body("appointment-needed"), base_url=BASE, breaker_open=False, timed_out=False
    )
    assert needed is not None
    assert "books an appointment" in needed.lines[0]


def test_a_failed_delivery_exits_non_zero_and_a_timeout_says_where_it_stands() -> None:
    failed = demo_report.outcome(
        _body("delivery-failed"), base_url=BASE, breaker_open=False, timed_out=False
    )
    assert failed is not None
    assert failed.exit_code == 1
    late = demo_report.outcome(_body("accepted"), base_url=BASE, breaker_open=False, timed_out=True)
    assert late is not None
    assert (late.exit_code, late.lines[-1][:15]) == (3, "still accepted,")
