"""`liaison queues` and `liaison replay`: the integration engineer's terminal tools."""

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated

import typer

from gateway.domain.delivery_states import WAITING, DeliveryState
from gateway.domain.errors import LiaisonError
from gateway.services import delivery_ops, replay
from gateway.settings import get_settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.unit_of_work import UnitOfWork

# Every delivery state but "stopped" (nothing more will happen to it).
COLUMNS = tuple(s for s in DeliveryState if s is not DeliveryState.STOPPED)


def _uow() -> UnitOfWork:
    return UnitOfWork(make_session_factory(make_engine(get_settings().database.url)))


def queues() -> None:
    """Deliveries per practice and state, with the oldest waiting age."""
    now = datetime.now(UTC)
    table: dict[str, dict[str, int]] = defaultdict(dict)
    oldest: dict[str, float] = {}
    with _uow() as uow:
        for ods, state, count, first in uow.delivery_search.counts():
            table[ods][state] = count
            if state in WAITING and first is not None:
                oldest[ods] = max(oldest.get(ods, 0.0), (now - first).total_seconds())
        lag_from = uow.outbox.oldest_unpublished_at()
    header = f"{'practice':<10}" + "".join(f"{c:>11}" for c in COLUMNS) + f"{'oldest wait':>14}"
    typer.echo(header)
    typer.echo("-" * len(header))
    for ods in sorted(table):
        age = f"{oldest[ods]:.0f}s" if ods in oldest else "-"
        typer.echo(
            f"{ods:<10}" + "".join(f"{table[ods].get(c, 0):>11}" for c in COLUMNS) + f"{age:>14}"
        )
    totals = [sum(row.get(c, 0) for row in table.values()) for c in COLUMNS]
    typer.echo("-" * len(header))
    typer.echo(f"{'all':<10}" + "".join(f"{n:>11}" for n in totals))
    lag = (now - lag_from).total_seconds() if lag_from else 0.0
    typer.echo(f"outbox lag: {lag:.1f}s")


def replay_command(
    delivery_id: Annotated[str | None, typer.Argument(help="replay this one delivery")] = None,
    practice: Annotated[str | None, typer.Option(help="all dead deliveries of a practice")] = None,
    error: Annotated[str | None, typer.Option(help="whose last error contains this")] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="every dead delivery")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Replay dead-lettered deliveries; each replay is linked to its original."""
    now = datetime.now(UTC)
    with _uow() as uow:
        if delivery_id:
            try:
                one = delivery_ops.replay_one(uow, delivery_id, now=now)
            except LiaisonError as refused:
                typer.echo(refused.detail, err=True)
                raise typer.Exit(1) from refused
            typer.echo(f"replaying {delivery_id} as {one.replay}")
            return
        if not (practice or error or all_dead):
            typer.echo("name a delivery id, or --practice / --error / --all", err=True)
            raise typer.Exit(2)
        criteria = {
            k: v for k, v in {"practice_ods": practice, "error_contains": error}.items() if v
        }
        plan = replay.plan_replay(uow, replay.criteria_from(criteria))
        if plan.total == 0:
            typer.echo("nothing to replay")
            return
        where = ", ".join(f"{ods}: {n}" for ods, n in sorted(plan.per_practice.items()))
        typer.echo(f"{plan.total} dead deliveries ({where})")
        if not yes:
            typer.confirm("replay them?", abort=True)
        batch = replay.start_batch(uow, criteria=criteria, requested_by="cli", now=now)
        # The CLI runs the batch itself, so it needs no worker. A worker that picks up the same
        # batch from the outbox shares the work safely: each step locks the batch and replays
        # only deliveries that are still dead.
        uow.commit()
        batch_id, total = batch.id, batch.total
    with typer.progressbar(length=total, label="replaying") as bar:
        done = 0
        more = True
        while more:
            with _uow() as uow:
                more = replay.run_batch_step(uow, batch_id, now=datetime.now(UTC))
                current = uow.replays.get(batch_id)
                replayed = current.replayed if current else done
            bar.update(replayed - done)
            done = replayed
            time.sleep(0)
    typer.echo(f"replayed {done} of {total}")


def register(app: typer.Typer) -> None:
    app.command("queues")(queues)
    app.command("replay")(replay_command)
