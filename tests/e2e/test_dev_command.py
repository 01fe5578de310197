"""`liaison dev` (what `make run` starts) as a newcomer meets it: the banner says where every
part is and how to sign in, and a real service configured for email or SMS is used instead of
a stand-in.

An SMTP server (aiosmtpd) and a Notify-compatible server run here on free ports, as a
developer's real relay and Notify account would; `liaison dev` is pointed at them.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
import pytest

from adapters.standins.mail_sink import MailSink
from adapters.standins.notify_sink import create_notify_sink_app, make_api_key
from gateway.cli import sample_recommendation
from tests.conftest import free_port
from tests.e2e.stack import wait_for
from tests.peers.servers import serve_in_thread

pytestmark = pytest.mark.e2e

# A Notify service of the developer's own, not the development stand-in's.
SERVICE_ID = "0f2c8a4e-6b1d-4c3e-9a7f-5d8e2b1c4a90"
SECRET = "7b3e9d21-4c5a-4f68-8e0b-2a1d6c9f3e57"
STAND_INS = ("mailsink", "notifysink")


@dataclass
class DevRun:
    proc: subprocess.Popen[str]
    api_url: str
    mail_view_port: int
    relay: MailSink
    relay_port: int
    notify_url: str
    output: list[str] = field(default_factory=list)

    @property
    def banner(self) -> str:
        return "".join(self.output)


def _read(proc: subprocess.Popen[str], into: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        into.append(line)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def dev_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevRun]:
    workdir = tmp_path_factory.mktemp("dev")
    relay_port = free_port()
    relay = MailSink(port=relay_port)
    relay.start()
    notify_app = create_notify_sink_app(service_id=SERVICE_ID, api_secret=SECRET)
    with serve_in_thread(notify_app) as notify_url:
        api_port, mail_view_port = free_port(), free_port()
        env = {
            **os.environ,
            "LIAISON_DATA_DIR": str(workdir / "data"),
            "LIAISON_DATABASE__URL": f"sqlite:///{workdir}/liaison.db",
            "LIAISON_BROKER__URL": f"sqla+sqlite:///{workdir}/broker.db",
            "LIAISON_API__PORT": str(api_port),
            "LIAISON_API__PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
            "LIAISON_DEVELOPMENT__SIMULATOR_PORT": str(free_port()),
            "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "2",
            "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "0.5",
            "LIAISON_DELIVERY__RELAY_INTERVAL_SECONDS": "0.3",
            "LIAISON_DEVELOPMENT__MAIL_VIEW_PORT": str(mail_view_port),
            "LIAISON_EMAIL__SMTP_HOST": "127.0.0.1",
            "LIAISON_EMAIL__SMTP_PORT": str(relay_port),
            "LIAISON_NOTIFY__BASE_URL": notify_url,
            "LIAISON_NOTIFY__API_KEY": make_api_key(SERVICE_ID, SECRET),
            # mesh-sandbox is installed with the dev extra: `liaison dev` runs it here.
            "LIAISON_DEVELOPMENT__MESH_SANDBOX_PORT": str(free_port()),
            "LIAISON_AUDIENCE__QUIET_HOURS_START": "00:00",
            "LIAISON_AUDIENCE__QUIET_HOURS_END": "00:00",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "dev"],
            env=env,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=(workdir / "dev.stderr").open("w"),
            text=True,
            start_new_session=True,
        )
        run = DevRun(
            proc, f"http://127.0.0.1:{api_port}", mail_view_port, relay, relay_port, notify_url
        )
        threading.Thread(target=_read, args=(proc, run.output), daemon=True).start()
        try:
            wait_for(
                lambda: "Ctrl-C stops everything" in run.banner or proc.poll() is not None,
                timeout=120,
                what="the banner",
            )
            assert proc.poll() is None, (workdir / "dev.stderr").read_text()[-4000:]
            yield run
        finally:
            _stop(proc)
            relay.stop()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()


def _banner_value(banner: str, pattern: str) -> str:
    found = re.search(pattern, banner)
    assert found, f"{pattern!r} not in the banner:\n{banner}"
    return found.group(1)


def _stand_ins_running(run: DevRun) -> list[str]:
    children = psutil.Process(run.proc.pid).children(recursive=True)
    return [
        " ".join(child.cmdline())
        for child in children
        if any(arg in STAND_INS for arg in child.cmdline())
    ]


def test_configured_smtp_and_notify_are_used_and_no_stand_in_starts(dev_run: DevRun) -> None:
    banner = dev_run.banner
    email = _banner_value(banner, r"Email\s+(.+)")
    assert email == f"SMTP relay 127.0.0.1:{dev_run.relay_port} (configured; no local mail sink)"
    sms = _banner_value(banner, r"SMS\s+(.+)")
    assert sms == f"Notify API {dev_run.notify_url} (configured; no local Notify stand-in)"
    assert _stand_ins_running(dev_run) == []
    assert not _listening(dev_run.mail_view_port)

    token = _banner_value(banner, r"Demo token\s+(\S+)")
    with httpx.Client(
        base_url=dev_run.api_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        created = client.post("/v1/recommendations", json=sample_recommendation("Y00001"))
        assert created.status_code == 202, created.text
        rec_id = created.json()["id"]

        # The practitioner's email reaches the developer's relay, the text their Notify.
        wait_for(
            lambda: [
                m
                for m in dev_run.relay.messages()
                if rec_id in m.body and m.rcpt_tos == ["alex.morgan@example.nhs.uk"]
            ],
            timeout=120,
            what="the practitioner's email at the configured relay",
        )
        texts = wait_for(
            lambda: httpx.get(f"{dev_run.notify_url}/_sink/messages", timeout=5).json(),
            timeout=120,
            what="a text at the configured Notify server",
        )
        assert [t["to"] for t in texts] == ["+447700900123"]
    # The whole time, the stack kept running with no stand-in beside the real services.
    assert dev_run.proc.poll() is None
    assert _stand_ins_running(dev_run) == []


def test_practice_inbox_signs_in_with_what_the_banner_prints(dev_run: DevRun) -> None:
    banner = dev_run.banner
    inbox_url = _banner_value(banner, r"Practice inbox\s+(\S+)")
    assert inbox_url == f"{dev_run.api_url}/inbox"
    practice = _banner_value(banner, r"practice (\w+), username")
    username = _banner_value(banner, r"username (\S+), password")
    password = _banner_value(banner, r"password (\S+)\)")
    token = _banner_value(banner, r"Demo token\s+(\S+)")
    with httpx.Client(
        base_url=dev_run.api_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        created = api.post("/v1/recommendations", json=sample_recommendation(practice))
        assert created.status_code == 202, created.text
        rec_id = created.json()["id"]

    with httpx.Client(base_url=dev_run.api_url, timeout=10, follow_redirects=True) as browser:
        page = browser.get("/inbox/login")
        csrf = _banner_value(page.text, r'name="csrf_token" value="([^"]+)"')
        signed_in = browser.post(
            "/inbox/login",
            data={
                "practice": practice,
                "username": username,
                "password": password,
                "csrf_token": csrf,
            },
        )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.url.path == "/inbox"
        # The request submitted for the inbox practice is waiting there.
        wait_for(
            lambda: f"/inbox/requests/{rec_id}" in browser.get("/inbox").text,
            timeout=60,
            what="the request on the practice inbox",
        )


def test_console_signs_in_with_the_demo_token_the_banner_prints(dev_run: DevRun) -> None:
    banner = dev_run.banner
    assert "it has the ops scope" in banner
    console_url = _banner_value(banner, r"Console\s+(\S+)")
    token = _banner_value(banner, r"Demo token\s+(\S+)")
    with httpx.Client(timeout=10, follow_redirects=True) as browser:
        page = browser.get(f"{console_url}login")
        form_token = _banner_value(page.text, r'name="form_token" value="([^"]+)"')
        signed_in = browser.post(
            f"{console_url}login",
            data={"token": token, "form_token": form_token, "next": "/console/"},
        )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.url.path == "/console/"


def test_the_mesh_route_runs_locally_from_send_document_to_filed(dev_run: DevRun) -> None:
    # mesh-sandbox and the simulated MESH practices: GP Connect Send Document end to end.
    mesh = _banner_value(dev_run.banner, r"MESH\s+(.+)")
    assert mesh.startswith("mesh-sandbox http://127.0.0.1:")
    token = _banner_value(dev_run.banner, r"Demo token\s+(\S+)")
    with httpx.Client(
        base_url=dev_run.api_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        ids = {}
        for practice in ("Y00010", "Y00011"):
            created = client.post("/v1/recommendations", json=sample_recommendation(practice))
            assert created.status_code == 202, created.text
            ids[practice] = created.json()["id"]

        def status(rec_id: str) -> dict[str, Any]:
            body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
            return body

        filed = wait_for(
            lambda: (b := status(ids["Y00010"]))["status"] == "delivered" and b,
            timeout=120,
            what="the Send Document request filed by the simulated practice",
        )
        assert any(
            "filed in the practice's workflow" in (e["detail"] or "") for e in filed["timeline"]
        )
        refused = wait_for(
            lambda: (b := status(ids["Y00011"]))["status"] == "delivery-failed" and b,
            timeout=120,
            what="the Send Document request refused by the simulated practice",
        )
        assert any("30003" in (e["detail"] or "") for e in refused["timeline"])
