"""Create Liaison's broker queues once, before any process that uses them starts.

Kombu's SQLAlchemy transport (the embedded profile's broker) creates a queue's row the
first time a process touches it, guarded by a lock that is only per process: a worker,
beat and the API starting together on a fresh broker.db can race, and the loser's worker
dies with "UNIQUE constraint failed: kombu_queue.name". Declaring them at migrate time
leaves nothing to race over. Redis and RabbitMQ declare atomically and need no help.
"""

from pathlib import Path

from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from sqlalchemy.engine import make_url

from gateway.queue_names import QUEUES


def declare_queues(broker_url: str, queues: tuple[str, ...] = QUEUES) -> None:
    if not broker_url.startswith("sqla+"):
        return
    database = make_url(broker_url.removeprefix("sqla+")).database
    if database and database != ":memory:":
        # SQLite creates the file but not its folder (`.liaison/` on a fresh clone).
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    with Connection(broker_url) as conn:  # type: ignore[no-untyped-call]
        channel = conn.default_channel
        for name in queues:
            # The same exchange, type and routing key Celery declares for a routed queue.
            exchange = Exchange(name, type="direct")  # type: ignore[no-untyped-call]
            queue = Queue(name, exchange, routing_key=name)  # type: ignore[no-untyped-call]
            queue(channel).declare()  # type: ignore[no-untyped-call]
