"""Tasks published together reach the broker together: on Redis one pipeline when the
block ends (none before it, none at all if the block fails); on brokers without batches
each at once, as before. Every task arrives once on every broker Liaison supports."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery import Celery

from gateway.broker_queues import declare_queues
from gateway.queue_depth import queue_depths
from tests.workers.test_gp_isolation import _world
from workers import relay
from workers.publishing import send, together

# A queue of this test's own: no worker of another run on the same broker takes from it.
QUEUE = f"batch-test-{uuid.uuid4().hex[:8]}"


def _app(broker_url: str) -> Celery:
    app = Celery("batch-test", broker=broker_url)
    app.conf.update(task_routes={"liaison.deliver": {"queue": QUEUE}})
    return app


def _delivery_depth(broker_url: str) -> int | None:
    return queue_depths(broker_url, (QUEUE,))[QUEUE]


@pytest.fixture(params=["redis", "amqp", "sqla"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqla":
        url = f"sqla+sqlite:///{tmp_path}/broker.db"
        declare_queues(url, (QUEUE,))
        yield url
    else:
        fixture = "redis_broker_url" if request.param == "redis" else "rabbitmq_broker_url"
        yield request.getfixturevalue(fixture)


def test_every_task_sent_together_arrives_once(broker_url: str) -> None:
    app = _app(broker_url)
    send(app, "liaison.deliver", ["before"])  # declares the queue on brokers that need it
    with together(app):
        for n in range(25):
            send(app, "liaison.deliver", [f"d{n}"])
        with together(app):  # an inner block joins the outer one
            send(app, "liaison.deliver", ["inner"])
    assert _delivery_depth(broker_url) == 27


def test_on_redis_the_batch_goes_when_the_block_ends_and_not_if_it_fails(
    redis_broker_url: str,
) -> None:
    app = _app(redis_broker_url)
    with together(app):
        for n in range(10):
            send(app, "liaison.deliver", [f"d{n}"])
        assert _delivery_depth(redis_broker_url) == 0  # still in the pipeline
    assert _delivery_depth(redis_broker_url) == 10

    def fails_mid_batch() -> None:
        with together(app):
            send(app, "liaison.deliver", ["lost-with-the-block"])
            raise RuntimeError("the relay failed mid-batch")

    with pytest.raises(RuntimeError):
        fails_mid_batch()
    assert _delivery_depth(redis_broker_url) == 10  # the caller publishes them again


class _FailedFlush(Exception):
    pass


@contextmanager
def _flush_fails() -> Iterator[None]:
    yield
    raise _FailedFlush("the broker went away as the batch was flushed")


def test_a_relay_batch_whose_flush_fails_is_published_again_whole(tmp_path: Path) -> None:
    with _world(tmp_path, f"sqlite:///{tmp_path}/liaison.db") as world:
        world.add_practice("Y00001")
        ids = [world.recommend("Y00001") for _ in range(3)]
        attempted: list[str] = []
        with pytest.raises(_FailedFlush):
            relay.relay_outbox(
                world.rt, lambda _kind, ref: attempted.append(ref), together=_flush_fails
            )
        assert set(ids) <= set(attempted)
        published: list[str] = []
        relay.relay_outbox(world.rt, lambda _kind, ref: published.append(ref))
        assert set(ids) <= set(published)  # nothing counted as sent that may not have gone
        assert relay.relay_outbox(world.rt, lambda _kind, ref: published.append(ref)) == 0
