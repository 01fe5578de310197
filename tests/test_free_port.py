"""`free_port` hands out a port nobody else can take before the server told to use it binds
it: the suite's child processes (the end-to-end stack, peers, benchmarks) start on such ports
while other tests and processes pick ports of their own at the same time."""

import errno
import socket

import pytest

from tests.conftest import free_port


def test_a_free_port_is_refused_to_another_socket_until_a_server_binds_it() -> None:
    port = free_port()
    # A plain bind, as a socket that is not a listening server's makes (a bind to port 0 is
    # refused the port the same way, so it is not handed out).
    with socket.socket() as other, pytest.raises(OSError, match="in use") as refused:
        other.bind(("127.0.0.1", port))
    assert refused.value.errno == errno.EADDRINUSE


def test_a_server_that_reuses_addresses_binds_a_free_port_and_is_reached_there() -> None:
    port = free_port()
    with socket.socket() as server:
        # What uvicorn, asyncio's create_server and aiosmtpd set before they bind.
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(1)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"
