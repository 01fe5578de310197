"""Shared fixtures: the two profiles.

Embedded tests always run. Services tests need PostgreSQL and Redis on loopback; they
skip on a laptop without them, and fail (never skip) when CI=true.
"""

import contextlib
import errno
import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import psycopg
import pytest
import redis

if TYPE_CHECKING:
    from adapters.standins.mail_sink import MailSink

PG_ADMIN_URL = os.environ.get(
    "LIAISON_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("LIAISON_TEST_REDIS", "redis://127.0.0.1:6379")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_services(*ports: tuple[str, int]) -> None:
    missing = [f"{h}:{p}" for h, p in ports if not _reachable(h, p)]
    if not missing:
        return
    message = f"services profile needs {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires the services profile to run")
    pytest.skip(message)


def free_port() -> int:
    """A loopback port for a server that must be told its port before it binds (a child
    process, aiosmtpd), kept from being handed to anyone else meanwhile.

    The port is left in TIME_WAIT, as Yelp's ephemeral-port-reserve does
    (https://github.com/Yelp/ephemeral-port-reserve): bound, connected to, and closed from the
    accepting end first. For the next minute (Linux's TCP_TIMEWAIT_LEN) the kernel gives it to
    no bind to port 0 and no outgoing connection, so a concurrent test or process cannot take
    it, while a server that sets SO_REUSEADDR still binds it at once (uvicorn and asyncio,
    aiosmtpd, Node, Redis and PostgreSQL all do). A server that finds it taken all the same
    can be started with `start_on_free_port`, which picks again."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port: int = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = listener.accept()
            # Closed before the connecting end: the TIME_WAIT is on this side, at `port`.
            accepted.close()
    return port


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port where a connection is refused for the whole block: bound, never
    listening, so no other process can start listening on it meanwhile (a server with
    SO_REUSEADDR could on a port from `free_port`)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port: int = held.getsockname()[1]
        yield port


T = TypeVar("T")
PORT_ATTEMPTS = 5


class PortTaken(Exception):
    """Raised by a `start_on_free_port` starter whose server found its port taken."""


def port_was_taken(error: BaseException) -> bool:
    return isinstance(error, PortTaken) or (
        isinstance(error, OSError) and error.errno == errno.EADDRINUSE
    )


def start_on_free_port(start: Callable[[int], T], attempts: int = PORT_ATTEMPTS) -> T:
    """`start(port)` on a free port, picking another port when the server reports it taken
    (an OSError EADDRINUSE, or `PortTaken`) between the pick and its bind."""
    for attempt in range(attempts):
        try:
            return start(free_port())
        except (OSError, PortTaken) as error:
            if not port_was_taken(error) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable: the last attempt raises")


@contextlib.contextmanager
def started_mail_sink(spool: str | None = None) -> Iterator["MailSink"]:
    """A MailSink running on a free port (see `start_on_free_port`) until the block ends."""
    from adapters.standins.mail_sink import MailSink

    def start(port: int) -> MailSink:
        sink = MailSink(host="127.0.0.1", port=port, spool=spool)
        sink.start()
        return sink

    sink = start_on_free_port(start)
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_services(("127.0.0.1", 5432))
    with fresh_postgres_database() as url:
        yield url


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A fresh, empty database on the local PostgreSQL, dropped afterwards."""
    name = f"liaison_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_broker_url() -> Iterator[str]:
    """A Redis database index to itself for one test, emptied before and after."""
    require_services(("127.0.0.1", 6379))
    index = 1 + (os.getpid() % 14)
    url = f"{REDIS_URL}/{index}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def rabbitmq_broker_url() -> Iterator[str]:
    """A RabbitMQ virtual host to itself for one test, deleted afterwards."""
    require_services(("127.0.0.1", 5672))
    vhost = f"liaison_test_{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], check=False, capture_output=True)
