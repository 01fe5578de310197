"""Shared fixtures: the two profiles.

Embedded tests always run. Services tests need PostgreSQL and Redis on loopback; they
skip on a laptop without them, and fail (never skip) when CI=true.
"""

import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
