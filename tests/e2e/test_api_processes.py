"""`liaison api --workers N`: N API processes serve one port, and one that dies is replaced,
so a deployment scales the gateway on a machine without a second port or a proxy."""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import free_port
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.e2e


def _api_processes(supervisor: psutil.Process, port: int) -> list[psutil.Process]:
    """The supervisor's children that hold the listening socket on `port`."""
    serving = []
    for child in supervisor.children(recursive=True):
        try:
            sockets = child.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
            serving.append(child)
    return serving


@pytest.fixture
def two_api_processes(tmp_path: Path) -> Iterator[tuple[psutil.Process, int]]:
    port = free_port()
    env = {
        **os.environ,
        "LIAISON_DATA_DIR": str(tmp_path / "data"),
        "LIAISON_DATABASE__URL": f"sqlite:///{tmp_path / 'liaison.db'}",
        "LIAISON_API__PORT": str(port),
        "LIAISON_API__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    cli = [sys.executable, "-m", "gateway.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen(
        [*cli, "api", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield psutil.Process(proc.pid), port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_two_api_processes_serve_one_port_and_a_dead_one_is_replaced(
    two_api_processes: tuple[psutil.Process, int],
) -> None:
    supervisor, port = two_api_processes
    url = f"http://127.0.0.1:{port}/healthz"

    def answering() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answering, timeout=60, what="the API to answer")
    serving = wait_for(
        lambda: (found := _api_processes(supervisor, port)) and len(found) == 2 and found,
        timeout=60,
        what="two API processes on the port",
    )
    assert len({p.pid for p in serving}) == 2

    serving[0].kill()
    replaced = wait_for(
        lambda: (
            (found := _api_processes(supervisor, port))
            and len(found) == 2
            and serving[0].pid not in {p.pid for p in found}
            and found
        ),
        timeout=60,
        what="the dead API process to be replaced",
    )
    assert serving[1].pid in {p.pid for p in replaced}
    assert all(answering() for _ in range(10))


def _get_healthz(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock.recv(65536)


def test_connections_opened_together_are_spread_over_the_processes(
    two_api_processes: tuple[psutil.Process, int],
) -> None:
    # A proxy's or client's keep-alive pool opens its connections together, once. With one
    # shared listening socket the first process to wake accepted every waiting connection
    # and the other idled (docs/BENCHMARKS.md, fix 9). Each process now listens on a socket
    # of its own (SO_REUSEPORT) and the kernel spreads them by a hash of their addresses:
    # fewer than 5 of 32 on either process is a 1 in 50,000 chance. (One shared socket gave
    # 1, 4 and 9 of 32 to the second process in three tries.)
    supervisor, port = two_api_processes
    wait_for(
        lambda: len(_api_processes(supervisor, port)) == 2,
        timeout=60,
        what="two API processes on the port",
    )
    # Every connection is made (the kernel completes the handshakes) before any is used.
    pool = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(32)]
    try:
        for sock in pool:
            assert _get_healthz(sock).startswith(b"HTTP/1.1 200")
        held = {
            process.pid: sum(
                1
                for s in process.net_connections(kind="tcp")
                if s.status == psutil.CONN_ESTABLISHED and s.laddr.port == port
            )
            for process in _api_processes(supervisor, port)
        }
    finally:
        for sock in pool:
            sock.close()
    assert sum(held.values()) == 32
    assert min(held.values()) >= 5, held
