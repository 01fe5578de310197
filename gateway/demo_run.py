"""`liaison demo`: submit a sample recommendation and follow it, saying each step, each
failed attempt and the practice's breaker as they happen (gateway.demo_report's words)."""

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from gateway import demo_report
from gateway.security.tokens import issue_token
from gateway.settings import Settings


def _filed(body: dict[str, Any]) -> bool:
    """Over MESH the practice's part of the demo ends when its workflow filed the letter: it
    answers through the letter (the inbox link, or the telephone), not over MESH."""
    return body["status"] == "delivered" and any(
        "filed in the practice's workflow" in (entry.get("detail") or "")
        for entry in body["timeline"]
    )


def _breaker(client: httpx.Client, headers: dict[str, str], ods: str) -> dict[str, Any]:
    answer = client.get(f"/ops/practices/{ods}", headers=headers)
    if answer.status_code != 200:
        return {}  # the token has no ops scope: the attempts still show
    return dict(answer.json().get("health", {}).get("breaker") or {})


def run(
    settings: Settings,
    payload: dict[str, Any],
    *,
    timeout: float,
    say: Callable[[str], None],
    poll_seconds: float = 0.5,
) -> int:
    """Returns the exit code (gateway.demo_report.outcome)."""
    token = issue_token(
        settings,
        client_id=settings.development.demo_client_id,
        organisation_ods=settings.development.demo_client_ods,
    )
    headers = {"Authorization": f"Bearer {token}"}
    practice = str(payload["gp_practice"]["ods_code"])
    base = settings.api.public_base_url
    with httpx.Client(base_url=base, timeout=10) as client:
        created = client.post(
            "/v1/recommendations",
            json=payload,
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        if created.status_code != 202:
            say(f"refused: HTTP {created.status_code} {created.text}")
            return 1
        rec_id = created.json()["id"]
        say(demo_report.submitted_line(rec_id, practice))
        seen: set[tuple[str, str]] = set()
        said_failures, breaker_said = 0, False
        deadline = time.monotonic() + timeout
        while True:
            body = client.get(f"/v1/recommendations/{rec_id}", headers=headers).json()
            for entry in body["timeline"]:
                if (key := (entry["at"], entry["status"])) not in seen:
                    seen.add(key)
                    say(demo_report.timeline_line(entry))
            attempts = body.get("attempts") or {}
            if demo_report.failed_attempts(attempts) > said_failures:
                said_failures = demo_report.failed_attempts(attempts)
                if line := demo_report.attempt_line(attempts):
                    say(line)
            breaker_open = False
            if attempts.get("last_error"):
                ods = body.get("practice_ods") or practice
                line = demo_report.breaker_line(ods, _breaker(client, headers, ods))
                breaker_open = line is not None
                if line and not breaker_said:
                    breaker_said = True
                    say(line)
            if _filed(body):
                say("outcome for now: the letter is filed in the practice's workflow")
                return 0
            ending = demo_report.outcome(
                body,
                base_url=base,
                breaker_open=breaker_open,
                timed_out=time.monotonic() >= deadline,
            )
            if ending is not None:
                for line in ending.lines:
                    say(line)
                return ending.exit_code
            time.sleep(poll_seconds)
