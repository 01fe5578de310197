"""`liaison simulator` logs through Liaison's JSON logging, like every other process of the
development stack, rather than uvicorn's own plain-text lines."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

READY_WITHIN_SECONDS = 60.0


def _wait_until_serving(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "the simulator exited before serving"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # waiting for a child process to bind: not a timing assertion
    raise AssertionError(f"the simulator did not serve {url}")


def test_every_line_the_simulator_logs_is_json(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LIAISON_LOG_LEVEL": "INFO", "LIAISON_DATA_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "gateway.cli", "simulator"]
    process = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_serving(process, f"http://127.0.0.1:{port}/fhir/metadata")
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown, which it logs
        output, _ = process.communicate(timeout=30)

    lines = [line for line in output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # fails on any plain-text line
    events = [str(record.get("event", "")) for record in records]
    assert any("Uvicorn running on" in event for event in events), lines
    assert all(record.get("level") for record in records), lines
    # No access line per request (uvicorn's would print each raw path).
    assert not any("/fhir/metadata" in event for event in events), lines
