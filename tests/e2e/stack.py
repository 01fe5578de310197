"""Starts Liaison's real processes (API, worker, beat, GP simulator, mail and SMS sinks)
with the `liaison` CLI, as an operator would, on free loopback ports."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.conftest import free_port

SERVICES = (
    "pds-standin",
    "ods-standin",
    "simulator",
    "mailsink",
    "notifysink",
    "api",
    "worker",
    "beat",
)


@dataclass
class Stack:
    workdir: Path
    database_url: str
    broker_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The interpreter whose installed `gateway` runs the processes (another virtualenv's, to
    # test a production install).
    python: str = sys.executable

    def __post_init__(self) -> None:
        self.api_port = free_port()
        self.simulator_port = free_port()
        self.smtp_port = free_port()
        self.mail_view_port = free_port()
        self.notify_port = free_port()
        self.pds_port = free_port()
        self.ods_port = free_port()
        self.env = {
            **os.environ,
            "LIAISON_DATA_DIR": str(self.workdir / "data"),
            "LIAISON_DATABASE__URL": self.database_url,
            "LIAISON_BROKER__URL": self.broker_url,
            "LIAISON_API__PORT": str(self.api_port),
            "LIAISON_API__PUBLIC_BASE_URL": self.api_url,
            "LIAISON_DEVELOPMENT__SIMULATOR_PORT": str(self.simulator_port),
            "LIAISON_DEVELOPMENT__SIMULATOR_STEP_SECONDS": "3",
            "LIAISON_DELIVERY__POLL_INTERVAL_SECONDS": "0.5",
            "LIAISON_DELIVERY__RELAY_INTERVAL_SECONDS": "0.3",
            "LIAISON_DELIVERY__RETRY_BASE_SECONDS": "1",
            "LIAISON_DELIVERY__RETRY_CAP_SECONDS": "2",
            "LIAISON_EMAIL__SMTP_PORT": str(self.smtp_port),
            "LIAISON_DEVELOPMENT__MAIL_VIEW_PORT": str(self.mail_view_port),
            "LIAISON_NOTIFY__BASE_URL": f"http://127.0.0.1:{self.notify_port}",
            "LIAISON_WORKER__CONCURRENCY": "8",
            # The registered practice comes from the PDS stand-in, the practice's state from
            # the ODS stand-in, each its own process over HTTP.
            "LIAISON_DEVELOPMENT__PDS_STANDIN_PORT": str(self.pds_port),
            "LIAISON_PDS__BASE_URL": f"{self.pds_url}/personal-demographics/FHIR/R4",
            "LIAISON_PDS__RETRY_BASE_SECONDS": "1",
            "LIAISON_PDS__RETRY_CAP_SECONDS": "2",
            "LIAISON_DEVELOPMENT__ODS_STANDIN_PORT": str(self.ods_port),
            "LIAISON_ODS__BASE_URL": f"http://127.0.0.1:{self.ods_port}/ORD/2-0-0",
            # No quiet hours: texts to service users would otherwise wait for 08:00 when the
            # suite runs at night (quiet hours are covered by time-travel tests).
            "LIAISON_AUDIENCE__QUIET_HOURS_START": "00:00",
            "LIAISON_AUDIENCE__QUIET_HOURS_END": "00:00",
            **self.extra_env,
        }

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def pds_url(self) -> str:
        return f"http://127.0.0.1:{self.pds_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    def liaison(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [self.python, "-m", "gateway.cli", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return done.stdout.strip()

    def start(self) -> None:
        self.liaison("migrate")
        for name in SERVICES:
            log = (self.workdir / f"{name}.log").open("wb")
            self.spawn(name, log)
        self.wait_http(f"{self.api_url}/readyz")
        self.wait_http(f"{self.simulator_url}/fhir/metadata")
        self.wait_http(f"{self.pds_url}/_pds/requests")
        self.wait_http(f"http://127.0.0.1:{self.ods_port}/ORD/2-0-0/organisations/Y00001")
        self.wait_http(f"http://127.0.0.1:{self.mail_view_port}/messages")
        self.wait_http(f"http://127.0.0.1:{self.notify_port}/_sink/messages")

    def spawn(self, name: str, log: IO[bytes] | None = None) -> None:
        # Each process leads its own group, so a test can kill a worker with its children.
        log = log or (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [self.python, "-m", "gateway.cli", name],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a process and everything it forked, with no chance to clean up."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.log(name)}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{url} did not answer within {timeout}s")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def faults(self, **change: Any) -> None:
        """Inject faults into the GP simulator (see PUT /_sim/faults)."""
        httpx.put(f"{self.simulator_url}/_sim/faults", json=change, timeout=5).raise_for_status()

    def client(self) -> httpx.Client:
        token = self.liaison("token", "--client", "demo-app")
        return httpx.Client(
            base_url=self.api_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
        )

    def mail(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = httpx.get(
            f"http://127.0.0.1:{self.mail_view_port}/messages", timeout=5
        ).json()
        return messages

    def sms(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = httpx.get(
            f"http://127.0.0.1:{self.notify_port}/_sink/messages", timeout=5
        ).json()
        return messages

    def received_at_gp(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = httpx.get(
            f"{self.simulator_url}/_sim/received", timeout=5
        ).json()
        return rows


def wait_for(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.3, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
