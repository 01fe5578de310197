"""The `liaison` command: run each process, or the whole embedded stack with `liaison dev`.

Worker and beat are started as `celery -A workers.process ...` processes, so the gateway
never imports the workers package.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from gateway import (
    api_processes,
    catalogue_commands,
    client_commands,
    dev_stack,
    fhir_package_commands,
    mesh_dev_commands,
    metrics,
    ops_commands,
    practice_commands,
    ukcore_commands,
)
from gateway.broker_queues import declare_queues
from gateway.cli_help import command_group
from gateway.logging import configure_logging
from gateway.malloc_arenas import limit_arenas
from gateway.practice_directory import PracticeEntryRefused, dev_inbox_account, entries_for, seed
from gateway.queue_names import QUEUES
from gateway.security.tokens import issue_token
from gateway.settings import DEV_NOTIFY_SECRET, DEV_NOTIFY_SERVICE_ID, Settings, get_settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.unit_of_work import UnitOfWork

app = command_group(
    "Liaison: mental-health practitioners' recommendations to GP practices.", top=True
)

ops_commands.register(app)
client_commands.register(app)  # `clients add|list|revoke|keys`, `token`
practice_commands.register(app)  # `practices list|set|import|add-user`
catalogue_commands.register(app)  # `catalogue import|list`: dm+d codes from a release
ukcore_commands.register(app)  # `ukcore check FILE...`: against the UK Core R4 package
fhir_package_commands.register(app)  # `fhir-package --out DIR`: Liaison's FHIR package
mesh_dev_commands.register(app)  # `mesh-sandbox`, `mesh-practice`: the dev MESH route


def _migrate(settings: Settings) -> tuple[int, tuple[str, str, str] | None]:
    """Schema, queues, the practice directory and, in development, the demo client and the
    demo inbox account. Returns how many practices were written and that account."""
    # Alembic (with Mako) is about 6 MB resident: imported here, not by `liaison api` or
    # `liaison worker`, which never migrate.
    from gateway.store.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database.url)
    declare_queues(settings.broker.url)
    engine = make_engine(settings.database.url)
    try:
        with UnitOfWork(make_session_factory(engine)) as uow:
            count = seed(uow, entries_for(settings), settings=settings)
            client_commands.seed_demo_client(uow, settings)  # development only
            inbox = dev_inbox_account(uow, settings)  # development only
            uow.commit()
            return count, inbox
    finally:
        engine.dispose()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema and seed the practice directory."""
    try:
        count, _ = _migrate(get_settings())
    except PracticeEntryRefused as refused:
        typer.echo(f"the practice directory is refused: {refused}", err=True)
        raise typer.Exit(2) from refused
    typer.echo(f"database at head; {count} practices in the directory")


@app.command()
def api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=32, help="API processes on the port (LIAISON_API__WORKERS)."),
    ] = None,
) -> None:
    """Serve the REST and FHIR API."""
    limit_arenas()
    settings = get_settings()
    metrics.share_across_processes(settings)  # /metrics adds up every process's counts
    config = uvicorn.Config(
        "gateway.api.served:create_served_app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        log_level="warning",
        # Logging is gateway.logging's (JSON, redacted); uvicorn's access log would print
        # raw paths and query strings, so the API logs its own access lines instead.
        log_config=None,
        access_log=False,
    )
    if config.workers > 1:
        # That many processes on the port, each listening on a socket of its own.
        api_processes.serve(config)
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run: the port or the app is broken


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.process", *args]


@app.command()
def worker(
    pool: Annotated[str | None, typer.Option()] = None,
    concurrency: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run a Celery worker consuming every Liaison queue."""
    limit_arenas()  # the environment Celery is started with carries it
    settings = get_settings()
    metrics.share_across_processes(settings)  # its counts reach the API's /metrics
    argv = _celery(
        "worker",
        "-Q",
        ",".join(QUEUES),
        "-E",
        "--loglevel",
        "WARNING",
        "--pool",
        pool or settings.worker.pool,
        "--concurrency",
        str(concurrency or settings.worker.concurrency),
        "--hostname",
        f"liaison-{uuid.uuid4().hex[:8]}@%h",
    )
    os.execvp(argv[0], argv)


@app.command()
def beat() -> None:
    """Run the Celery beat scheduler (outbox relay, sweeps, polls)."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    argv = _celery(
        "beat",
        "--loglevel",
        "WARNING",
        "--schedule",
        str(settings.data_dir / "celerybeat-schedule"),
    )
    os.execvp(argv[0], argv)


@app.command()
def simulator(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    step_seconds: Annotated[float | None, typer.Option()] = None,
) -> None:
    """Run the GP practice simulator (a FHIR R4 endpoint with scripted outcomes)."""
    from adapters.standins.gp_simulator.app import main as run_simulator

    settings = get_settings()
    run_simulator(
        host or settings.development.simulator_host,
        port or settings.development.simulator_port,
        step_seconds if step_seconds is not None else settings.development.simulator_step_seconds,
    )


@app.command()
def mailsink() -> None:
    """Run the local SMTP sink and its web view."""
    from adapters.standins.mail_sink import main as run_mail_sink

    settings = get_settings()
    run_mail_sink(
        smtp_host=settings.email.smtp_host,
        smtp_port=settings.email.smtp_port,
        http_host="127.0.0.1",
        http_port=settings.development.mail_view_port,
        spool=str(settings.data_dir / "mail.jsonl"),
    )


@app.command()
def notifysink() -> None:
    """Run the local stand-in for GOV.UK Notify's v2 API (development only)."""
    from adapters.standins.notify_sink import main as run_notify_sink

    settings = get_settings()
    port = httpx.URL(settings.notify.base_url).port or 8027
    run_notify_sink(
        "127.0.0.1",
        port,
        DEV_NOTIFY_SERVICE_ID,
        DEV_NOTIFY_SECRET,
        str(settings.data_dir / "notify.jsonl"),
    )


@app.command("pds-standin")
def pds_standin() -> None:
    """Run the local stand-in for PDS FHIR R4 (development only; canned patients)."""
    from adapters.standins.pds import main as run_pds

    run_pds("127.0.0.1", get_settings().development.pds_standin_port)


@app.command("ods-standin")
def ods_standin() -> None:
    """Run the local stand-in for the ODS ORD API (development only; canned practices)."""
    from adapters.standins.ods import main as run_ods

    run_ods("127.0.0.1", get_settings().development.ods_standin_port)


def _registry_stand_ins(settings: Settings, env: dict[str, str]) -> list[str]:
    """Start the PDS and ODS stand-ins unless a real one is configured (then it is used as
    it is), pointing the other processes at them through `env`."""
    names: list[str] = []
    if settings.pds.mode == "on" and settings.pds.base_url is None:
        env["LIAISON_PDS__BASE_URL"] = settings.development.pds_standin_url
        names.append("pds-standin")
    if settings.ods.base_url is None:
        env["LIAISON_ODS__BASE_URL"] = settings.development.ods_standin_url
        names.append("ods-standin")
    return names


def _wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


@app.command()
def dev() -> None:
    """Start the whole embedded stack: API, worker, beat, GP simulator, and a stand-in for
    each outside service not configured (local SMTP sink, GOV.UK Notify stand-in)."""
    settings = get_settings()
    try:
        _, inbox = _migrate(settings)
    except PracticeEntryRefused as refused:
        typer.echo(f"the practice directory is refused: {refused}", err=True)
        raise typer.Exit(2) from refused
    # Nothing else runs yet: start the shared metrics directory empty.
    metrics.share_across_processes(settings, fresh=True)
    env = {**os.environ}
    if settings.is_embedded:
        env.setdefault("LIAISON_WORKER__POOL", "threads")
    me = [sys.executable, "-m", "gateway.cli"]
    peers = dev_stack.peers(settings)
    mesh = dev_stack.mesh_route(
        settings, sandbox_installed=importlib.util.find_spec("mesh_sandbox") is not None
    )
    env.update(mesh.env)
    names = [*_registry_stand_ins(settings, env), *mesh.stand_ins]
    names += [peer.stand_in for peer in peers if peer.stand_in] + ["api", "worker", "beat"]
    peers += [mesh.peer] if mesh.peer else []
    procs = [subprocess.Popen([*me, name], env=env) for name in names]

    def stop(*_: Any) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ready = _wait_ready(f"{settings.api.public_base_url}/healthz", 60)
    token = issue_token(
        settings,
        client_id=settings.development.demo_client_id,
        organisation_ods=settings.development.demo_client_ods,
    )
    typer.echo(dev_stack.banner(settings, peers, ready=ready, token=token, inbox=inbox))
    typer.echo(
        f"  PDS: {env.get('LIAISON_PDS__BASE_URL', 'off (gp_practice is trusted as given)')}\n"
        f"  ODS: {env.get('LIAISON_ODS__BASE_URL', 'not consulted')}\n"
    )
    while True:
        for name, proc in zip(names, procs, strict=True):
            if proc.poll() is not None:
                typer.echo(f"{name} exited with {proc.returncode}; stopping", err=True)
                stop()
        time.sleep(1)


def sample_recommendation(ods_code: str) -> dict[str, Any]:
    """A demo recommendation for practice `ods_code`, about the canned patient the PDS
    stand-in registers there (so PDS's registered practice agrees with the one given)."""
    from adapters.standins.pds.patients import registered_at  # the demo's data, development only

    return {
        "service_user": {
            "nhs_number": registered_at(ods_code),
            "name": {"given": "Sam", "family": "Taylor"},
            "birth_date": "1974-03-02",
            "contact": {"mobile": "+447700900123", "email": "sam@example.org", "preferred": "sms"},
        },
        "practitioner": {
            "id": "mhscp-001",
            "name": "Alex Morgan",
            "email": "alex.morgan@example.nhs.uk",
            "organisation_ods": "RX3",
        },
        "gp_practice": {"ods_code": ods_code},
        "medication": {
            "product": "varenicline-1mg-tablets",
            "dose_text": "1 mg twice daily",
            "duration_days": 84,
        },
        "plan": "quit",
        "current_medications": [{"name": "clozapine"}],
        "consent": {
            "share_with_gp": True,
            "notify_service_user": True,
            "recorded_at": "2026-11-25T10:00:00Z",
        },
        "note": "Prefers home visits",
        # Told about the clinical-safety flag clozapine raises when smoking stops.
        "care_team": [
            {"role": "psychiatrist", "name": "Dr Jo Okafor", "email": "jo.okafor@example.nhs.uk"}
        ],
    }


@app.command()
def demo(
    practice: Annotated[
        str, typer.Option(help="The GP practice (ODS code) to send to; Y00004 is down.")
    ] = "Y00001",
    timeout: Annotated[
        float, typer.Option(help="Seconds to follow it before saying where it stands.")
    ] = 120.0,
) -> None:
    """Submit a sample recommendation and follow it, saying each step, each failed attempt,
    the practice's breaker, and what happens next. Exits 3 while it is still retrying."""
    from gateway import demo_run

    code = demo_run.run(
        get_settings(), sample_recommendation(practice), timeout=timeout, say=typer.echo
    )
    if code:
        raise typer.Exit(code)


def main() -> None:
    configure_logging(get_settings().log_level)
    app()


if __name__ == "__main__":
    main()
