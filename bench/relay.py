"""The outbox relay alone: how many outbox rows a second `workers.relay.relay_outbox` marks
and hands to the broker, on PostgreSQL, with a publish that does nothing (the broker's
round trips are figure 2's business). Made to judge the relay batching recorded in
docs/BENCHMARKS.md; not part of `make bench`. Prints one line; writes nothing.

    .venv/bin/python -m bench.relay --recommendations 600
"""

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import fresh_database
from gateway.cli import sample_recommendation
from gateway.domain.retry_policy import RetryPolicy
from gateway.practice_directory import dev_directory, seed
from gateway.services.intake import IntakeCommand, submit
from gateway.settings import BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork
from workers.relay import relay_outbox
from workers.runtime import Runtime


def _unused(*_: Any) -> Any:
    raise AssertionError("the relay reaches neither GP systems nor notification channels")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recommendations", type=int, default=600)
    args = parser.parse_args(argv)
    with fresh_database("relay") as url:
        settings = Settings(
            database=DatabaseSettings(url=url), broker=BrokerSettings(url="memory://")
        )
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        with UnitOfWork(sessions) as uow:
            seed(uow, dev_directory(settings))
            uow.commit()
        # Through intake, so each makes the rows it makes in production (a delivery, and a
        # care-team notification for the sample's clozapine flag).
        body = sample_recommendation("Y00001")
        for _ in range(args.recommendations):
            with UnitOfWork(sessions) as uow:
                submit(uow, IntakeCommand("demo-app", "RX3", None, body), now=datetime.now(UTC))
        rt = Runtime(
            settings=settings,
            session_factory=sessions,
            gp_system_for=_unused,
            channel=_unused,
            retry_policy=RetryPolicy(1, 1, 1),
        )
        published: list[str] = []
        started = time.perf_counter()
        while relay_outbox(rt, lambda _kind, ref: published.append(ref)):
            pass
        seconds = time.perf_counter() - started
        engine.dispose()
    print(
        f"relayed {len(published)} outbox rows in {seconds:.2f} s: {len(published) / seconds:.0f}/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
