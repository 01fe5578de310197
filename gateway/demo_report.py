"""What `liaison demo` says, as pure functions of what the API returned: human sentences,
never a raw JSON list. `gateway.demo_run` polls and prints them."""

from dataclasses import dataclass
from typing import Any, Final

# Statuses after which nothing more happens to the request.
FINAL: Final = {"collected", "rejected", "cancelled", "delivery-failed"}
# Statuses that can only move on when a person acts (an appointment, a collection), so the
# demo stops waiting and says what happens next.
WAITING_ON_PEOPLE: Final = {
    "appointment-needed": "next: the service user books an appointment with the practice; "
    "Liaison tells the practitioner when the practice acts again",
    "ready-to-collect": "next: the service user collects it; Liaison sends a collection "
    "reminder if it is still waiting in a few days",
}


def submitted_line(rec_id: str, practice: str) -> str:
    return f"recommendation {rec_id} submitted (HTTP 202) for GP practice {practice}"


def timeline_line(entry: dict[str, Any]) -> str:
    detail = f" ({entry['detail']})" if entry.get("detail") else ""
    return f"  {str(entry['at'])[11:19]}  {entry['status']}{detail}"


def failed_attempts(attempts: dict[str, Any]) -> int:
    """How many attempts have failed so far, from the API's `attempts` summary. While the
    next attempt is in flight, `last_error` is still the previous attempt's, so that one is
    the last known failure (else attempt 1's error is never said, or said as attempt 2's)."""
    if not attempts.get("last_error"):
        return 0
    made = int(attempts.get("attempts") or 0)
    return made - 1 if attempts.get("state") == "in-flight" else made


def attempt_line(attempts: dict[str, Any]) -> str | None:
    """ "attempt 3 failed: POST /fhir answered 503; next try at 06:12:30" (None: no failure)."""
    failed = failed_attempts(attempts)
    if failed < 1:
        return None
    line = f"  attempt {failed} failed: {attempts['last_error']}"
    if attempts.get("state") == "in-flight":
        line += f"; attempt {failed + 1} is being made now"
    elif attempts.get("next_attempt_at"):
        line += f"; next try at {str(attempts['next_attempt_at'])[11:19]} UTC"
    return line


def breaker_line(ods: str, breaker: dict[str, Any]) -> str | None:
    if breaker.get("state") != "open":
        return None
    # The breaker counts every call to the practice (status checks too), not only this
    # request's attempts, so it says calls: "after 5 failed calls" after two attempts.
    return (
        f"  practice {ods}'s circuit breaker opened after "
        f"{breaker.get('consecutive_failures')} failed calls to it in a row: Liaison pauses "
        "calls to it and tries again later"
    )


@dataclass(frozen=True)
class Ending:
    lines: tuple[str, ...]
    exit_code: int


def notification_lines(notifications: list[dict[str, Any]]) -> tuple[str, ...]:
    said = [
        n.get("explanation") or f"{n['channel']} to {n['recipient']}: {n['status']}"
        for n in notifications
    ]
    return tuple(f"  {s} ({n['event']})" for s, n in zip(said, notifications, strict=True))


def outcome(
    body: dict[str, Any], *, base_url: str, breaker_open: bool, timed_out: bool
) -> Ending | None:
    """How the demo ends for this view of the recommendation, or None to keep waiting.
    Exit 0: an outcome (or one only a person can move on); 1: it failed; 3: still retrying."""
    status = str(body["status"])
    told = notification_lines(body.get("notifications", []))
    if status in FINAL:
        return Ending((f"outcome: {status}", *told), 1 if status == "delivery-failed" else 0)
    if status in WAITING_ON_PEOPLE:
        return Ending((f"outcome for now: {status}; {WAITING_ON_PEOPLE[status]}", *told), 0)
    if not (timed_out or breaker_open):
        return None
    console = f"{base_url.rstrip('/')}/console/deliveries?recommendation_id={body['id']}"
    word = "still retrying" if status in ("received", "queued") else f"still {status}"
    # Who was told first, so the last line is the verdict and where to look.
    return Ending((*told, f"{word}, see the console at {console}"), 3)
