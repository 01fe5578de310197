"""Outside systems the adapter tests talk to, each started as its own process on a free
loopback port: NHS England's mesh-sandbox, and an independent FHIR R4 server (Medplum's
FHIR router over its in-memory repository, tests/peers/medplum/)."""

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import PortTaken, start_on_free_port

MEDPLUM_DIR = Path(__file__).parent / "medplum"

# mesh-sandbox's canned mailboxes (its store/data/mailboxes.jsonl): every password is
# "password", and the shared key defaults to "Banana".
MESH_SHARED_KEY = "Banana"
MESH_PASSWORD = "password"
LIAISON_MAILBOX = "X26ABC1"
PRACTICE_MAILBOX = "X26ABC2"


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            told = log.read_text(errors="replace")
            if "address already in use" in told.lower() or "EADDRINUSE" in told:
                # Another process took the port between free_port() and the child's bind.
                raise PortTaken(url)
            raise RuntimeError(f"{url} exited early:\n{told[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class MeshSandbox:
    url: str

    def reset(self) -> None:
        httpx.delete(f"{self.url}/admin/reset", timeout=5).raise_for_status()

    def message(self, message_id: str) -> dict[str, object]:
        response = httpx.get(f"{self.url}/admin/message/{message_id}", timeout=5)
        response.raise_for_status()
        found: dict[str, object] = response.json()
        return found

    def add_event(self, message_id: str, **event: str) -> None:
        """Append a status event to a message, as MESH itself would (e.g. an error)."""
        httpx.post(
            f"{self.url}/messageexchange/admin/message/{message_id}/event", json=event, timeout=5
        ).raise_for_status()


@contextmanager
def mesh_sandbox(workdir: Path) -> Iterator[MeshSandbox]:
    """mesh-sandbox in memory, with real MESH authentication (AUTH_MODE=no_auth still
    checks the NHSMESH header; only "none" would skip it)."""
    log = workdir / "mesh-sandbox.log"
    env = {**os.environ, "STORE_MODE": "memory", "AUTH_MODE": "no_auth", "SHARED_KEY": "Banana"}

    def start(port: int) -> tuple[subprocess.Popen[bytes], str]:
        command = [sys.executable, "-m", "uvicorn", "mesh_sandbox.api:app", "--host"]
        command += ["127.0.0.1", "--port", str(port), "--log-level", "warning"]
        url = f"http://127.0.0.1:{port}"
        return _started(command, log, f"{url}/health", env=env), url

    proc, url = start_on_free_port(start)
    try:
        yield MeshSandbox(url)
    finally:
        _stop(proc)


def _started(command: list[str], log: Path, ready: str, **popen: Any) -> subprocess.Popen[bytes]:
    """A child process started and answering `ready`; stopped again if it never does."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **popen)
    try:
        _wait(ready, proc, log)
    except BaseException:
        _stop(proc)
        raise
    return proc


@dataclass(frozen=True)
class MedplumPeer:
    base_url: str  # the FHIR base, e.g. http://127.0.0.1:1234/fhir/R4


def _node() -> str:
    node = shutil.which("node")
    installed = (MEDPLUM_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir()
    if node and installed:
        return node
    message = (
        "the Medplum peer needs Node.js and `npm ci` in tests/peers/medplum (`make test` does both)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def medplum_peer(workdir: Path) -> Iterator[MedplumPeer]:
    node = _node()
    log = workdir / "medplum.log"

    def start(port: int) -> tuple[subprocess.Popen[bytes], str]:
        base = f"http://127.0.0.1:{port}/fhir/R4"
        command = [node, str(MEDPLUM_DIR / "server.mjs"), str(port)]
        return _started(command, log, f"{base}/Task?_count=1", cwd=MEDPLUM_DIR), base

    proc, base = start_on_free_port(start)
    try:
        yield MedplumPeer(base)
    finally:
        _stop(proc)


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """An ASGI app on a free loopback port in a thread (uvicorn); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
