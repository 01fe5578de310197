"""In quiet hours the service user's text waits until 08:00; the practitioner's email and the
API say so instead of "The service user has been told".

Real SQLite database, real SMTP mail sink and Notify sink, the worker's own functions;
time-machine holds the clock inside quiet hours."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.api.auth import issue_token
from gateway.domain.audience import UK
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import AudienceSettings
from gateway.store.unit_of_work import UnitOfWork
from tests.follow_up_support import (
    Peers,
    make_runtime,
    queued_notifications,
    run_notify_tasks,
    running_peers,
    submit,
)
from workers.runtime import Runtime

QUIET_EVENING = datetime(2026, 9, 8, 22, 30, tzinfo=UK)
HELD = "SMS to the service user held until 08:00 (quiet hours)"


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with running_peers() as running:
        yield running


def _runtime(tmp_path: Path, peers: Peers, *, quiet: bool) -> Runtime:
    peers.reset()
    hours = AudienceSettings(
        quiet_hours_start=datetime(2026, 1, 1, 21).time(),
        quiet_hours_end=datetime(2026, 1, 1, 8).time(),
    )
    if quiet:
        return make_runtime(f"sqlite:///{tmp_path}/quiet.db", peers, audience=hours)
    return make_runtime(f"sqlite:///{tmp_path}/quiet.db", peers)


def _ready(rt: Runtime, ods: str, *statuses: str) -> str:
    rec_id = submit(rt, ods)
    run_notify_tasks(rt, queued_notifications(rt))
    for status in statuses:
        with UnitOfWork(rt.session_factory) as uow:
            change = StatusChange(rec_id, status, source="poll", pharmacy="Boots, 1 High Street")
            assert apply_status(uow, change, now=datetime.now(UTC))
            uow.commit()
    return rec_id


def _practitioner_mail(peers: Peers, subject: str) -> str:
    [mail] = [m for m in peers.mail.messages() if m.subject == subject]
    return mail.body


def _shown(rt: Runtime, rec_id: str) -> dict[str, str]:
    app = create_app(rt.settings)
    token = issue_token(rt.settings, client_id="demo-app", organisation_ods="RX3")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        shown = client.get(f"/v1/recommendations/{rec_id}").json()
    app.state.engine.dispose()
    return {
        f"{n['event']}/{n['recipient']}": n["explanation"]
        for n in shown["notifications"]
        if n["event"] in ("ready-to-collect", "appointment-needed")
    }


@pytest.mark.parametrize("sms_first", [True, False])
def test_the_practitioner_is_told_the_text_is_held_whichever_goes_first(
    tmp_path: Path, peers: Peers, sms_first: bool
) -> None:
    rt = _runtime(tmp_path, peers, quiet=True)
    with time_machine.travel(QUIET_EVENING, tick=False):
        rec_id = _ready(rt, "Y00001", "delivered", "ready-to-collect")
        ids = queued_notifications(rt)
        with UnitOfWork(rt.session_factory) as uow:
            to_them = {n.id for n in uow.notifications.for_recommendation(rec_id)}
            sms = [
                n.id
                for n in uow.notifications.for_recommendation(rec_id)
                if n.recipient == "service-user"
            ]
        ids = [i for i in ids if i in to_them]
        ordered = sorted(ids, key=lambda i: (i not in sms) == sms_first)
        run_notify_tasks(rt, ordered)
        shown = _shown(rt, rec_id)
    body = _practitioner_mail(peers, "Prescription ready to collect")
    assert HELD in body
    assert "has been told" not in body
    assert peers.texts() == []
    assert shown["ready-to-collect/service-user"] == HELD
    assert shown["ready-to-collect/practitioner"] == "Email to the practitioner sent at 22:30"


def test_out_of_quiet_hours_the_practitioner_reads_that_the_text_went(
    tmp_path: Path, peers: Peers
) -> None:
    rt = _runtime(tmp_path, peers, quiet=False)
    rec_id = _ready(rt, "Y00003", "delivered", "appointment-needed")
    ids = queued_notifications(rt)
    with UnitOfWork(rt.session_factory) as uow:
        theirs = [
            n.id
            for n in uow.notifications.for_recommendation(rec_id)
            if n.recipient == "service-user"
        ]
    run_notify_tasks(rt, [*theirs, *[i for i in ids if i not in theirs]])
    body = _practitioner_mail(peers, "GP practice wants to see the service user")
    assert "The service user has been asked to book an appointment by SMS." in body
    assert "held until" not in body
    assert _shown(rt, rec_id)["appointment-needed/service-user"].startswith(
        "SMS to the service user sent at "
    )
