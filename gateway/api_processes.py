"""Several API processes on one port, each with a listening socket of its own.

uvicorn's own `--workers` binds one socket in its supervisor and hands it to every process;
whichever process is in accept() first takes a new connection, so a few long-lived
keep-alive connections (a proxy's or a load generator's pool) can all land on one process
while the others idle: two processes served 1.05 times one (docs/BENCHMARKS.md, fix 9).
With SO_REUSEPORT each process listens on a socket of its own bound to the same address,
and the kernel spreads new connections over them by a hash of their addresses (socket(7),
"SO_REUSEPORT"; https://lwn.net/Articles/542629/). Only processes of the same user can join
the group. Everything else is uvicorn's supervisor: health checks, replacing a process that
dies, SIGHUP to restart them one by one, SIGTTIN/SIGTTOU to add or remove one.
"""

import logging
import socket
import sys

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("liaison.api")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other processes of this user may bind too; not yet
    listening: the process that serves on it listens (asyncio's create_server)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        logger.error("cannot listen on the API port: %s", exc.strerror)
        sys.exit(STARTUP_FAILURE)
    sock.set_inheritable(True)
    return sock


class ReusePortSupervisor(Multiprocess):
    """uvicorn's supervisor, giving each process it starts a socket of its own.

    uvicorn starts every process with `Process(self.config, self.sockets)`; here reading
    `sockets` binds a new socket, so a replacement gets a fresh one too. The supervisor's
    copy is never listened on, so the kernel sends it no connection; it is closed with the
    process object that holds it."""

    def __init__(self, config: Config) -> None:
        self._port = config.port
        super().__init__(config, sockets=[])

    @property
    def sockets(self) -> list[socket.socket]:
        sock = reuse_port_socket(self.config.host, self._port)
        # Port 0 (a free one, in tests): every later process joins the port the first got.
        self._port = int(sock.getsockname()[1])
        return [sock]

    @sockets.setter
    def sockets(self, _given: list[socket.socket]) -> None:
        """uvicorn's __init__ stores the sockets it was given: none here."""


def serve(config: Config) -> None:
    """Run `config.workers` API processes on config's port, each with its own socket."""
    ReusePortSupervisor(config).run()
