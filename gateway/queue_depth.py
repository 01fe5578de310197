"""How many messages wait in each broker queue (Redis, RabbitMQ or the SQLAlchemy transport)."""

from kombu.connection import Connection

from gateway.queue_names import QUEUES


def queue_depths(broker_url: str, queues: tuple[str, ...] = QUEUES) -> dict[str, int | None]:
    """None for a queue whose depth could not be read: the ops view must still answer."""
    depths: dict[str, int | None] = dict.fromkeys(queues)
    try:
        with Connection(broker_url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
            channel = conn.default_channel
            for queue in queues:
                try:
                    depths[queue] = int(
                        channel.queue_declare(queue=queue, passive=True).message_count
                    )
                except Exception:  # a queue not declared yet holds nothing to report
                    depths[queue] = 0
    except Exception:
        return dict.fromkeys(queues)
    return depths
