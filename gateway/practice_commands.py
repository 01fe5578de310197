"""`liaison practices list|set|import|add-user`: the practice directory from a terminal."""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from adapters.gp_system import ADAPTER_KINDS
from gateway.cli_help import command_group
from gateway.practice_directory import (
    PracticeEntryRefused,
    PracticeSettings,
    check_endpoints,
    ensure_inbox_user,
    load_directory,
    seed,
    settings_of,
    source_of,
    write_practice,
)
from gateway.security.passwords import WeakPassword, hash_password
from gateway.settings import get_settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.unit_of_work import UnitOfWork

practices_app = command_group("The practice directory: which adapter serves each GP practice.")


def _uow() -> UnitOfWork:
    return UnitOfWork(make_session_factory(make_engine(get_settings().database.url)))


def _refuse(error: ValidationError | PracticeEntryRefused) -> None:
    if isinstance(error, PracticeEntryRefused):
        for field, why in error.problems:
            typer.echo(f"{error.ods_code}.{field}: {why}", err=True)
        raise typer.Exit(2)
    for problem in error.errors():
        field = ".".join(str(p) for p in problem["loc"]) or "entry"
        typer.echo(f"{field}: {problem['msg']}", err=True)
    raise typer.Exit(2)


@practices_app.command("list")
def list_practices(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Every practice with its adapter, endpoint and circuit breaker."""
    with _uow() as uow:
        rows = [
            (
                p.ods_code,
                p.breaker_state,
                settings_of(p),
                source_of(p),
                [u.username for u in uow.inbox.users(p.ods_code)],
            )
            for p in uow.practices.list()
        ]
    if as_json:
        for ods_code, breaker, entry, source, users in rows:
            line: dict[str, Any] = {
                "ods_code": ods_code,
                **entry.model_dump(mode="json", exclude_none=True),
                "source": source,
                "breaker": breaker,
                "inbox_users": users,
            }
            typer.echo(json.dumps(line))
        return
    header = f"{'practice':<10}{'adapter':<11}{'breaker':<11}{'rate/min':>9}  where"
    typer.echo(header)
    typer.echo("-" * max(len(header), 60))
    for ods_code, breaker, entry, _source, users in rows:
        where = entry.base_url or entry.mailbox or ""
        if entry.adapter == "inbox":
            where = f"{len(users)} inbox user(s)"
        rate = str(entry.rate_limit_per_minute or "-")
        typer.echo(f"{ods_code:<10}{entry.adapter:<11}{breaker:<11}{rate:>9}  {where}")


@practices_app.command("set")
def set_practice(
    ods_code: Annotated[str, typer.Argument(help="The practice's ODS code")],
    adapter: Annotated[str | None, typer.Option(help=" | ".join(ADAPTER_KINDS))] = None,
    base_url: Annotated[str | None, typer.Option(help="FHIR base URL")] = None,
    token_env: Annotated[
        str | None,
        typer.Option(help="Variable holding a bearer token: LIAISON_PRACTICE_SECRET_<NAME>"),
    ] = None,
    mailbox: Annotated[str | None, typer.Option(help="The practice's MESH mailbox")] = None,
    workflow_id: Annotated[str | None, typer.Option(help="MESH workflow id")] = None,
    callback_secret_env: Annotated[
        str | None,
        typer.Option(help="Variable holding the callback secret: LIAISON_PRACTICE_SECRET_<NAME>"),
    ] = None,
    rate_limit: Annotated[int | None, typer.Option(help="Calls a minute at most")] = None,
    chase_after_days: Annotated[
        int | None, typer.Option(help="Working days before chasing")
    ] = None,
) -> None:
    """Create a practice, or change some of its settings (the rest are kept)."""
    ods_code = ods_code.strip().upper()
    with _uow() as uow:
        existing = uow.practices.get(ods_code)
        current: dict[str, Any] = (
            settings_of(existing).model_dump(exclude_none=True) if existing else {}
        )
        if adapter and existing and adapter != existing.adapter:
            # A new adapter starts from a clean slate: the old one's options may not apply.
            current = {"chase_after_days": current.get("chase_after_days", 3)}
        changes = {
            "adapter": adapter,
            "base_url": base_url,
            "mailbox": mailbox,
            "workflow_id": workflow_id,
            "callback_secret_env": callback_secret_env,
            "rate_limit_per_minute": rate_limit,
            "chase_after_days": chase_after_days,
        }
        current.update({k: v for k, v in changes.items() if v is not None})
        if token_env:
            current["auth"] = {"type": "bearer", "token_env": token_env}
        try:
            entry = PracticeSettings.model_validate(current)
            check_endpoints(ods_code, entry, get_settings())
        except (ValidationError, PracticeEntryRefused) as error:
            _refuse(error)
            return
        _, created = write_practice(uow, ods_code, entry, source="cli")
        uow.commit()
    typer.echo(f"{'added' if created else 'updated'} {ods_code} ({entry.adapter})")


@practices_app.command("import")
def import_directory(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A directory YAML")],
) -> None:
    """Write every practice in a YAML file, replacing what the database holds for them."""
    try:
        entries = load_directory(path)
    except ValidationError as error:
        _refuse(error)
        return
    with _uow() as uow:
        try:
            count = seed(uow, entries, settings=get_settings(), source="yaml", overwrite=True)
        except PracticeEntryRefused as error:
            _refuse(error)
            return
    typer.echo(f"imported {count} practices from {path}")


@practices_app.command("add-user")
def add_user(
    ods_code: Annotated[str, typer.Argument(help="The practice's ODS code")],
    username: Annotated[str, typer.Argument(help="The staff member's username")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a practice inbox account (or set a new password for it)."""
    ods_code = ods_code.strip().upper()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        digest = hash_password(password)
    except WeakPassword as weak:
        typer.echo(f"password: {weak}", err=True)
        raise typer.Exit(2) from weak
    with _uow() as uow:
        if uow.practices.get(ods_code) is None:
            typer.echo(f"no practice {ods_code} in the directory", err=True)
            raise typer.Exit(2)
        ensure_inbox_user(uow, ods_code, username.strip(), digest, replace=True)
        uow.commit()
    typer.echo(f"inbox user {username} can sign in for {ods_code}")


def register(app: typer.Typer) -> None:
    app.add_typer(practices_app, name="practices")
