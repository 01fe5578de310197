"""`liaison demo` against a running stack, as a newcomer runs it: it says
each failed attempt and the practice's breaker and ends "still retrying" with the console's
address and exit 3 for a practice that is down; it stops at once, saying what happens next,
when only a person can move the request on; and in quiet hours it says the service user's
text is held until the morning instead of printing raw JSON.

One stack serves all three, started with quiet hours that hold "now" (UK time): a text to a
service user waits for their end, which is 08:00 whenever that still covers the next half
hour.
"""

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pytest

from gateway.domain.audience import UK, QuietHours
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

# The demo follows a request this long at most; each test ends well before it unless the
# behaviour it checks is missing (the default, two minutes, is what a newcomer waits).
DEMO_TIMEOUT = "90"


@dataclass
class DemoStack:
    stack: Stack
    quiet_end: str  # "08:00": when a text held by quiet hours goes (UK time)


@dataclass
class DemoRun:
    code: int
    lines: list[str]

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def _quiet_hours_holding_now() -> tuple[str, str]:
    """Quiet hours from an hour ago to 08:00 UK time, or to two hours from now when 08:00
    would end them within half an hour (a run between 07:30 and 09:00)."""
    now = datetime.now(UK)
    start = (now - timedelta(hours=1)).replace(second=0, microsecond=0).time()
    end = time(8, 0)
    if not QuietHours(start, end).contains(now + timedelta(minutes=30)):
        end = (now + timedelta(hours=2)).replace(second=0, microsecond=0).time()
    return f"{start:%H:%M}", f"{end:%H:%M}"


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    workdir = tmp_path_factory.mktemp("demo")
    start, end = _quiet_hours_holding_now()
    stack = Stack(
        workdir=workdir,
        database_url=f"sqlite:///{workdir}/liaison.db",
        broker_url=f"sqla+sqlite:///{workdir}/broker.db",
        extra_env={
            "LIAISON_AUDIENCE__QUIET_HOURS_START": start,
            "LIAISON_AUDIENCE__QUIET_HOURS_END": end,
        },
    )
    try:
        stack.start()
        yield DemoStack(stack, end)
    finally:
        stack.stop()


def _demo(stack: Stack, practice: str) -> DemoRun:
    done = subprocess.run(
        [
            stack.python,
            "-m",
            "gateway.cli",
            "demo",
            "--practice",
            practice,
            "--timeout",
            DEMO_TIMEOUT,
        ],
        env=stack.env,
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        timeout=float(DEMO_TIMEOUT) + 60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return DemoRun(done.returncode, done.stdout.splitlines())


def test_a_down_practice_shows_each_failure_the_breaker_and_ends_still_retrying(
    demo_stack: DemoStack,
) -> None:
    stack = demo_stack.stack
    run = _demo(stack, "Y00004")  # the simulator's practice whose every call answers 503
    first = run.lines[0]
    assert re.fullmatch(r"recommendation \S+ submitted \(HTTP 202\) for GP practice Y00004", first)
    rec_id = first.split()[1]

    failures = [re.search(r"attempt (\d+) failed: (.*)", line) for line in run.lines]
    said = [(int(m.group(1)), m.group(2)) for m in failures if m]
    assert said, run.output
    assert all("503" in error for _, error in said), run.output
    numbers = [n for n, _ in said]
    # Each failure told once, in order, from the first (whose error is not another's).
    assert numbers[0] == 1, run.output
    assert numbers == sorted(set(numbers)), run.output
    assert any("Y00004's circuit breaker opened after" in line for line in run.lines), run.output

    last = run.lines[-1]
    console = f"{stack.api_url}/console/deliveries?recommendation_id={rec_id}"
    assert last == f"still retrying, see the console at {console}", run.output
    assert run.code == 3


def test_appointment_needed_stops_waiting_and_says_what_happens_next(
    demo_stack: DemoStack,
) -> None:
    run = _demo(demo_stack.stack, "Y00003")  # the practice asks for an appointment first
    assert "submitted (HTTP 202) for GP practice Y00003" in run.lines[0]
    ending = [line for line in run.lines if line.startswith("outcome")]
    assert ending == [
        "outcome for now: appointment-needed; next: the service user books an appointment "
        "with the practice; Liaison tells the practitioner when the practice acts again"
    ], run.output
    assert run.code == 0


def test_in_quiet_hours_the_service_users_text_is_said_to_be_held_until_morning(
    demo_stack: DemoStack,
) -> None:
    run = _demo(demo_stack.stack, "Y00001")  # prescribes: ready to collect in a few steps
    assert any(line.startswith("outcome for now: ready-to-collect") for line in run.lines)
    held = f"SMS to the service user held until {demo_stack.quiet_end} (quiet hours)"
    assert f"  {held} (ready-to-collect)" in run.lines, run.output
    assert "not_before" not in run.output  # sentences, not the API's JSON
    assert run.code == 0
