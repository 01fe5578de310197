"""`liaison migrate` creates the embedded broker's queues, so processes starting together on
a fresh broker.db have no queue row left to race over (a lost race killed the worker)."""

import socket
import sqlite3
from pathlib import Path

import pytest

from gateway.broker_queues import declare_queues
from gateway.queue_depth import queue_depths
from gateway.queue_names import QUEUES


def _queue_rows(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return sorted(name for (name,) in db.execute("SELECT name FROM kombu_queue"))


def test_every_queue_exists_after_declaring_and_a_second_declare_adds_none(
    tmp_path: Path,
) -> None:
    url = f"sqla+sqlite:///{tmp_path}/broker.db"
    declare_queues(url)
    declare_queues(url)
    assert _queue_rows(tmp_path / "broker.db") == sorted(QUEUES)
    assert queue_depths(url) == dict.fromkeys(QUEUES, 0)


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_network_broker_is_left_alone(scheme: str) -> None:
    # Celery declares a network broker's queues itself: `liaison migrate` must not connect.
    # A connection attempt completes in the kernel's backlog before connect() returns, so
    # once declare_queues is back, a non-blocking accept finds any attempt it made.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        declare_queues(f"{scheme}://127.0.0.1:{port}/0")
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_the_broker_files_folder_is_made_when_missing(tmp_path: Path) -> None:
    declare_queues(f"sqla+sqlite:///{tmp_path}/fresh/clone/broker.db")
    assert _queue_rows(tmp_path / "fresh" / "clone" / "broker.db") == sorted(QUEUES)
