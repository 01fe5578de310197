"""Sending Celery tasks, one at a time or several in one broker round trip.

`together(app)` opens kombu's producer batch (`Producer.batch`, kombu 5.7): on Redis the
messages sent inside go as one pipeline when the block ends, instead of one round trip each.
A transport without batches (RabbitMQ, the SQLAlchemy broker) publishes each at once, as
before. The relay counts a batch as published only when the whole block has gone.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from celery import Celery

# The producer of the `together` block the current code runs in, if any.
_producer: ContextVar[Any] = ContextVar("liaison_batch_producer", default=None)


def send(app: Celery, name: str, args: Sequence[Any], **options: Any) -> None:
    """Send one task: into the open `together` block's batch, or at once."""
    app.send_task(name, args=list(args), producer=_producer.get(), **options)


@contextmanager
def together(app: Celery) -> Iterator[None]:
    """Tasks `send` inside the block reach the broker when it ends. An error inside the
    block discards what was not sent yet; a failed flush raises (kombu's BatchPublishError:
    some may have gone), so the caller must treat every one of them as unsent."""
    if _producer.get() is not None:
        yield  # already inside a batch: it flushes when the outer block ends
        return
    with app.producer_or_acquire() as producer, producer.batch():
        token = _producer.set(producer)
        try:
            yield
        finally:
            _producer.reset(token)
