"""Booking the appointment the practice asks for, through the real processes (API, worker,
beat, the GP simulator's GP Connect Appointment Management endpoint, SMTP and Notify sinks):
a recommendation to Y00003 reaches appointment-needed; the case-management app lists the
practice's free slots and books one; the service user gets a private confirmation with the
time and place; the practice records attendance (read back by beat); a did-not-attend tells
the practitioner, and slots are offered again."""

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from gateway.cli import sample_recommendation
from gateway.domain.audience import UK
from gateway.domain.messages import denied_words
from gateway.reminder_settings import ReminderDefaults
from gateway.services.plan_reminders import raise_plan_reminders
from gateway.store.database import make_engine, make_session_factory
from gateway.store.unit_of_work import UnitOfWork
from tests.e2e.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

MOBILES = {"attends": "+447700900301", "misses": "+447700900302"}
TRUST = {"name": "Example Care Trust", "telephone": "0113 000 0000"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("booking")
    running = Stack(
        workdir=workdir,
        database_url=f"sqlite:///{workdir}/liaison.db",
        broker_url=f"sqla+sqlite:///{workdir}/broker.db",
        extra_env={
            "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "2",
            "LIAISON_GPCONNECT__ATTENDANCE_CHECK_SECONDS": "1",
            "LIAISON_WORKER__POOL": "threads",
            "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "1",
        },
    )
    directory = workdir / "practices.yaml"
    entry = {
        "ods_code": "Y00003",
        "adapter": "simulator",
        "base_url": f"{running.simulator_url}/fhir",
        "appointments": {
            "base_url": f"{running.simulator_url}/gpconnect/Y00003/STU3/1",
            "provider_asid": "918999198738",
        },
    }
    directory.write_text(json.dumps({"practices": [entry]}))  # JSON is YAML
    running.env["LIAISON_DELIVERY__PRACTICE_DIRECTORY"] = str(directory)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def _status(api: httpx.Client, rec_id: str) -> str:
    return str(api.get(f"/v1/recommendations/{rec_id}").json()["status"])


def _texts_to(stack: Stack, mobile: str) -> list[dict[str, Any]]:
    return [t for t in stack.sms() if t["to"] == mobile]


def _remind_at(stack: Stack, *moments: datetime) -> None:
    """Beat's `remind_plans` at each moment (UK morning of its day), twice over."""
    engine = make_engine(stack.database_url)
    try:
        for moment in moments:
            day = moment.astimezone(UK).date()
            at = datetime.combine(day, time(9, 30), tzinfo=UK)
            for _ in range(2):
                with UnitOfWork(make_session_factory(engine)) as uow:
                    raise_plan_reminders(
                        uow, now=at, defaults=ReminderDefaults(), quiet=(time(0), time(0))
                    )
                    uow.commit()
    finally:
        engine.dispose()


def test_booked_confirmed_privately_attendance_from_the_practice(
    stack: Stack, api: httpx.Client
) -> None:
    ids: dict[str, str] = {}
    for who, mobile in MOBILES.items():
        body = sample_recommendation("Y00003")
        body["service_user"]["contact"]["mobile"] = mobile
        response = api.post("/v1/recommendations", json=body)
        assert response.status_code == 202, response.text
        ids[who] = response.json()["id"]
    for rec_id in ids.values():
        wait_for(
            lambda r=rec_id: _status(api, r) == "appointment-needed",  # type: ignore[misc]
            timeout=120,
            what="the practice asks to see the patient",
        )

    slots = api.get(f"/v1/recommendations/{ids['attends']}/slots").json()["slots"]
    assert len(slots) >= 2
    booked: dict[str, dict[str, Any]] = {}
    for who, slot in zip(ids, slots, strict=False):
        answer = api.post(
            f"/v1/recommendations/{ids[who]}/appointment",
            json={"slot_id": slot["id"], "start": slot["start"], "booking_organisation": TRUST},
        )
        assert answer.status_code == 201, answer.text
        booked[who] = answer.json()
        assert _status(api, ids[who]) == "appointment-booked"

    # The private confirmation: time and place, nothing about why. (The earlier "please call
    # your practice" text may have gone before the booking, or been superseded by it.)
    [text] = wait_for(
        lambda: [t for t in _texts_to(stack, MOBILES["attends"]) if "is booked for" in t["body"]],
        timeout=60,
        what="confirmation",
    )
    start = datetime.fromisoformat(booked["attends"]["start"])
    assert "your appointment at your GP practice is booked for" in text["body"]
    assert "Riverside Surgery, 1 Station Road, Leeds, LS1 1AA" in text["body"]
    local = start.astimezone(ZoneInfo("Europe/London"))
    assert f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}" in text["body"]
    assert denied_words(text["body"]) == []

    # Time travelled to the day before and the morning of the appointment: beat's reminder
    # task (run here at those moments against the stack's database) records the reminders,
    # and the running worker sends them, once each, in private words.
    _remind_at(stack, start - timedelta(days=1), start)
    for words in ("is tomorrow", "is today"):
        [reminder] = wait_for(
            lambda w=words: [  # type: ignore[misc]
                t for t in _texts_to(stack, MOBILES["attends"]) if w in t["body"]
            ],
            timeout=60,
            what=f"the reminder that the appointment {words}",
        )
        assert "Riverside Surgery" in reminder["body"]
        assert denied_words(reminder["body"]) == []

    # The practice records what happened in its own system.
    at_practice = httpx.get(f"{stack.simulator_url}/_sim/appointments", timeout=5).json()
    remote = {a["start"]: a["id"] for a in at_practice}
    for who, status in (("attends", "fulfilled"), ("misses", "noshow")):
        start_text = datetime.fromisoformat(booked[who]["start"])
        remote_id = next(i for s, i in remote.items() if datetime.fromisoformat(s) == start_text)
        httpx.put(
            f"{stack.simulator_url}/_sim/gpconnect/Y00003/appointments/{remote_id}/attendance",
            json={"status": status},
            timeout=5,
        ).raise_for_status()

    wait_for(lambda: _status(api, ids["attends"]) == "attended", timeout=60, what="attended")
    wait_for(lambda: _status(api, ids["misses"]) == "did-not-attend", timeout=60, what="missed")
    missed_mail = wait_for(
        lambda: [
            m
            for m in stack.mail()
            if m["subject"] == "The service user did not attend their GP appointment"
            and ids["misses"] in m["body"]
        ],
        timeout=60,
        what="the practitioner told of the missed appointment",
    )
    assert "book another appointment" in missed_mail[0]["body"]
    # Re-booking is offered.
    again = api.get(f"/v1/recommendations/{ids['misses']}/slots")
    assert again.status_code == 200
    assert again.json()["slots"]
