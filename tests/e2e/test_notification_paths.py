"""Who hears what, through the real processes (API, worker, beat, GP simulator, SMTP and
Notify sinks) with short timings: ready (both told, once each), rejected (with the
practice's reason), appointment needed, delivery failed, an uncollected prescription's
reminders, chase-ups of a silent practice, and a chase-up that stops when the practice acts.
(Signed webhooks are covered against a real HTTP receiver in tests/workers/test_notifying.py.)

The simulator's scripted practices: Y00001 prescribes and the prescription is collected;
Y00002 declines; Y00003 asks to see the patient; Y00004 is down; Y00006 prescribes but
nobody collects; Y00007 never answers; Y00008 answers only after four steps of silence.
"""

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhir_profiles.builders import CHASE_UP_ID
from gateway.cli import sample_recommendation
from tests.e2e.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

PRACTICES = ("Y00001", "Y00002", "Y00003", "Y00004", "Y00006", "Y00007", "Y00008")
# A "working day" of 4 s; the simulator moves a request on every 5 s, so a loaded machine
# still tells the service user their prescription is ready before it is collected (a
# message overtaken by a later status is superseded, not sent). Reminders every 12 s, so a
# prescription collected 5 s after it was ready needs none. The slow practice acts after
# 25 s, before its second chase-up would be due (4 s + 8 working days of 4 s).
KNOBS = {
    "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "5",
    "LIAISON_DEVELOPMENT__WORKING_DAY_SECONDS": "4",
    "LIAISON_CHASING__AGAIN_AFTER_DAYS": "8",
    "LIAISON_CHASING__LIMIT": "2",
    "LIAISON_CHASING__CHECK_SECONDS": "1",
    "LIAISON_COLLECTION__REMINDER_AFTER_SECONDS": "12",
    "LIAISON_COLLECTION__REMINDER_LIMIT": "2",
    "LIAISON_COLLECTION__REMINDER_CHECK_SECONDS": "1",
    "LIAISON_DELIVERY__RETRY_BUDGET_SECONDS": "4",
    # The down practice's circuit breaker re-probes soon, so its budget runs out in seconds.
    "LIAISON_DELIVERY__BREAKER_OPEN_SECONDS": "2",
    # As `liaison dev` runs the embedded profile: one worker process with threads, and
    # polls once a second (seven practices polled every half second swamp SQLite).
    "LIAISON_WORKER__POOL": "threads",
    "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "1",
}


def _mobile(ods: str) -> str:
    # Ofcom's drama range, one number per practice so each service user's texts are theirs.
    return f"+447700900{ods[-3:]}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("paths")
    running = Stack(
        workdir=workdir,
        database_url=f"sqlite:///{workdir}/liaison.db",
        broker_url=f"sqla+sqlite:///{workdir}/broker.db",
        extra_env=KNOBS,
    )
    directory = workdir / "practices.yaml"
    base = f"{running.simulator_url}/fhir"
    entries = [
        {
            "ods_code": ods,
            "adapter": "simulator",
            "base_url": base,
            # The silent and the slow practice are chased after one (4 s) working day.
            "chase_after_days": 1 if ods in ("Y00007", "Y00008") else 3,
        }
        for ods in PRACTICES
    ]
    directory.write_text(json.dumps({"practices": entries}))  # JSON is YAML
    running.env["LIAISON_DELIVERY__PRACTICE_DIRECTORY"] = str(directory)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    # One client for the module: `stack.client()` runs `liaison token`, a process each time.
    with stack.client() as client:
        yield client


@pytest.fixture(scope="module")
def submitted(api: httpx.Client) -> dict[str, str]:
    ids: dict[str, str] = {}
    for ods in PRACTICES:
        body = sample_recommendation(ods)
        body["service_user"]["contact"]["mobile"] = _mobile(ods)
        response = api.post(
            "/v1/recommendations", json=body, headers={"Idempotency-Key": f"paths-{ods}"}
        )
        assert response.status_code == 202, response.text
        ids[ods] = response.json()["id"]
    return ids


def _get(api: httpx.Client, rec_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/v1/recommendations/{rec_id}").json()
    return body


def _sent(api: httpx.Client, rec_id: str, event: str) -> list[str]:
    """People told of `event` (the webhook, which hears everything, has its own test)."""
    return sorted(
        n["recipient"]
        for n in _get(api, rec_id)["notifications"]
        if n["event"] == event and n["status"] == "sent" and n["recipient"] != "case-management"
    )


def _mail_for(stack: Stack, rec_id: str, subject: str) -> list[dict[str, Any]]:
    return [m for m in stack.mail() if m["subject"] == subject and rec_id in m["body"]]


def _texts_to(stack: Stack, ods: str) -> list[dict[str, Any]]:
    return [t for t in stack.sms() if t["to"] == _mobile(ods)]


def test_ready_both_told_once_each(
    stack: Stack, api: httpx.Client, submitted: dict[str, str]
) -> None:
    rec_id = submitted["Y00001"]
    wait_for(
        lambda: _sent(api, rec_id, "ready-to-collect") == ["practitioner", "service-user"],
        timeout=120,
        what="both told the prescription is ready",
    )
    wait_for(
        lambda: _sent(api, rec_id, "collected") == ["practitioner"],
        timeout=60,
        what="the practitioner told it was collected",
    )
    [email] = _mail_for(stack, rec_id, "Prescription ready to collect")
    assert email["rcpt_tos"] == ["alex.morgan@example.nhs.uk"]
    assert "Boots, 1 High Street" in email["body"]
    [text] = _texts_to(stack, "Y00001")  # one text: ready (collection needs no message)
    assert "ready to collect at Boots, 1 High Street" in text["body"]
    for word in ("arenicline", "smok", "mental"):
        assert word not in text["body"].lower()
    # Every step Liaison saw reached the practitioner, once. (A poll may miss a step that
    # lasted less than a poll interval, such as "accepted", and then nobody is told of it.)
    subjects = Counter(
        m["subject"]
        for m in stack.mail()
        if rec_id in m["body"] and m["rcpt_tos"] == ["alex.morgan@example.nhs.uk"]
    )
    assert set(subjects.values()) == {1}
    assert {
        "Recommendation delivered to the GP practice",
        "Prescription ready to collect",
        "Prescription collected",
    } <= set(subjects)
    seen = {e["status"] for e in _get(api, rec_id)["timeline"]}
    assert ("GP practice accepted your recommendation" in subjects) == ("accepted" in seen)


def test_rejected_practitioner_told_with_the_reason(
    stack: Stack, api: httpx.Client, submitted: dict[str, str]
) -> None:
    rec_id = submitted["Y00002"]
    mail = wait_for(
        lambda: _mail_for(stack, rec_id, "GP practice declined your recommendation"),
        timeout=120,
        what="the rejection email",
    )
    assert len(mail) == 1
    assert "Their reason: Please ask the patient to book a smoking review" in mail[0]["body"]
    assert _texts_to(stack, "Y00002") == []


def test_appointment_needed_service_user_asked_to_book_practitioner_told(
    stack: Stack, api: httpx.Client, submitted: dict[str, str]
) -> None:
    rec_id = submitted["Y00003"]
    wait_for(
        lambda: _sent(api, rec_id, "appointment-needed") == ["practitioner", "service-user"],
        timeout=120,
        what="both told about the appointment",
    )
    [text] = _texts_to(stack, "Y00003")
    # The practice's telephone number comes from ODS (its stand-in).
    assert "Please call your practice on 0113 496 0003 to book an appointment" in text["body"]
    assert len(_mail_for(stack, rec_id, "GP practice wants to see the service user")) == 1


def test_delivery_failed_practitioner_told(
    stack: Stack, api: httpx.Client, submitted: dict[str, str]
) -> None:
    rec_id = submitted["Y00004"]
    wait_for(
        lambda: _get(api, rec_id)["status"] == "delivery-failed",
        timeout=120,
        what="Y00004 dead-lettered",
    )
    mail = wait_for(
        lambda: _mail_for(stack, rec_id, "Recommendation could not be delivered"),
        timeout=60,
        what="the delivery-failed email",
    )
    assert len(mail) == 1
    assert "503" in mail[0]["body"]


def test_an_uncollected_prescription_brings_reminders_up_to_the_limit(
    stack: Stack, api: httpx.Client, submitted: dict[str, str]
) -> None:
    rec_id = submitted["Y00006"]
    wait_for(
        lambda: _sent(api, rec_id, "collection-reminder-2") == ["service-user"],
        timeout=120,
        what="the second collection reminder",
    )
    texts = [t["body"] for t in _texts_to(stack, "Y00006")]
    reminders = [t for t in texts if "still waiting to be collected" in t]
    assert len(reminders) == 2
    assert len([t for t in texts if "is ready to collect" in t]) == 1
    events = [n["event"] for n in _get(api, rec_id)["notifications"]]
    assert "collection-reminder-3" not in events


def _chase_ups_at_gp(stack: Stack, rec_id: str) -> list[dict[str, Any]]:
    found = []
    for row in stack.received_at_gp():
        ids = {i.get("system"): i.get("value") for i in row["identifiers"]}
        if row["type"] == "CommunicationRequest" and CHASE_UP_ID in ids and rec_id in ids.values():
            found.append(row)
    return found


def test_a_silent_practice_is_chased_and_a_practice_that_acts_is_not_chased_again(
    stack: Stack, api: httpx.Client, submitted: dict[str, str]
) -> None:
    silent, slow = submitted["Y00007"], submitted["Y00008"]
    wait_for(
        lambda: [c["state"] for c in _get(api, silent)["chase_ups"]] == ["sent", "sent"],
        timeout=150,
        what="two chase-ups to the silent practice",
    )
    assert len(_chase_ups_at_gp(stack, silent)) == 2
    assert _get(api, silent)["status"] == "delivered"
    told = wait_for(
        lambda: len(m := _mail_for(stack, silent, "Liaison chased the GP practice")) == 2 and m,
        timeout=60,
        what="the practitioner told of both chase-ups",
    )
    assert sorted("chase-up 2" in m["body"] for m in told) == [False, True]

    # The slow practice was chased once, then acted; its second chase-up would have been
    # due with the silent practice's, which has now gone.
    slow_view = wait_for(
        lambda: (b := _get(api, slow))["status"] != "delivered" and b,
        timeout=60,
        what="the slow practice to act",
    )
    assert [c["number"] for c in slow_view["chase_ups"]] == [1]
    assert slow_view["chase_ups"][0]["state"] == "sent"
    assert len(_chase_ups_at_gp(stack, slow)) == 1
    assert len(_mail_for(stack, slow, "Liaison chased the GP practice")) == 1


def test_time_to_ready_is_reported_per_practice(
    api: httpx.Client, submitted: dict[str, str]
) -> None:
    wait_for(
        lambda: _get(api, submitted["Y00006"])["status"] == "ready-to-collect",
        timeout=120,
        what="Y00006 ready",
    )
    stats = api.get("/ops/practices/Y00006/stats").json()
    assert stats["ready"] == 1
    assert stats["median_seconds"] == stats["p90_seconds"]
    assert stats["median_seconds"] > 0
