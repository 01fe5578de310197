"""`liaison clients ...`: register, list, rotate keys of, and revoke API clients; and
`liaison token`, the development shortcut to a bearer token."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from gateway.cli_help import command_group
from gateway.security import clients as registry
from gateway.security import keys
from gateway.security.tokens import issue_token
from gateway.settings import Settings, get_settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.unit_of_work import UnitOfWork

clients_app = command_group(
    "API clients: systems that call Liaison with signed-JWT client credentials."
)


def _uow(settings: Settings) -> UnitOfWork:
    return UnitOfWork(make_session_factory(make_engine(settings.database.url)))


def _read_jwks(jwks: Path | None, public_key: Path | None) -> dict[str, Any]:
    if (jwks is None) == (public_key is None):
        typer.echo("give exactly one of --jwks FILE or --private-key-for-demo FILE", err=True)
        raise typer.Exit(2)
    if jwks is not None:
        loaded: dict[str, Any] = json.loads(jwks.read_text())
        return loaded
    assert public_key is not None
    return {"keys": [keys.public_jwk(public_key.read_bytes())]}


def _refuse(exc: registry.ClientRegistryError) -> None:
    typer.echo(f"refused: {exc}", err=True)
    raise typer.Exit(2)


@clients_app.command("add")
def add(
    client_id: Annotated[str, typer.Argument(help="the client's id (iss of its assertions)")],
    kind: Annotated[str, typer.Option(help="case-management | gp-practice | ops")],
    ods: Annotated[str, typer.Option(help="ODS code of the organisation or practice")],
    jwks: Annotated[Path | None, typer.Option(help="JSON file with the public JWKS")] = None,
    private_key_for_demo: Annotated[
        Path | None,
        typer.Option(help="derive the JWKS from this PEM private key (tests and demos)"),
    ] = None,
    scopes: Annotated[str | None, typer.Option(help="space-separated; default: the kind's")] = None,
) -> None:
    """Register a client and its public keys."""
    settings = get_settings()
    with _uow(settings) as uow:
        try:
            client = registry.register_client(
                uow,
                client_id=client_id,
                kind=kind,
                organisation_ods=ods,
                jwks=_read_jwks(jwks, private_key_for_demo),
                scopes=scopes,
                now=datetime.now(UTC),
            )
        except registry.ClientRegistryError as exc:
            _refuse(exc)
        uow.commit()
        kids = ", ".join(k["kid"] for k in client.jwks["keys"])
        typer.echo(
            f"registered {client.client_id} ({client.kind}, {client.organisation_ods}, "
            f"scopes: {client.scopes}; keys: {kids})"
        )
        typer.echo(f"token endpoint (aud of assertions): {settings.api.token_endpoint_url}")


@clients_app.command("list")
def list_clients() -> None:
    """Every registered client, active or revoked."""
    with _uow(get_settings()) as uow:
        rows = uow.clients.list()
        typer.echo(f"{'client':<24}{'kind':<17}{'ods':<8}{'status':<9}{'scopes':<30}keys")
        for c in rows:
            kids = ",".join(k["kid"] for k in c.jwks.get("keys", []))
            typer.echo(
                f"{c.client_id:<24}{c.kind:<17}{c.organisation_ods:<8}{c.status:<9}"
                f"{c.scopes:<30}{kids}"
            )


@clients_app.command("revoke")
def revoke(client_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a client: its tokens stop working on their next request."""
    with _uow(get_settings()) as uow:
        try:
            registry.revoke_client(uow, client_id=client_id, now=datetime.now(UTC))
        except registry.ClientRegistryError as exc:
            _refuse(exc)
        uow.commit()
    typer.echo(f"revoked {client_id}")


@clients_app.command("keys")
def rotate_keys(
    client_id: Annotated[str, typer.Argument()],
    jwks: Annotated[Path, typer.Option(help="JSON file with the client's new public JWKS")],
) -> None:
    """Replace a client's registered JWKS (key rotation: old and new kid side by side first)."""
    with _uow(get_settings()) as uow:
        try:
            client = registry.replace_keys(
                uow, client_id=client_id, jwks=json.loads(jwks.read_text()), now=datetime.now(UTC)
            )
        except registry.ClientRegistryError as exc:
            _refuse(exc)
        uow.commit()
        typer.echo(f"{client_id} keys: {', '.join(k['kid'] for k in client.jwks['keys'])}")


@clients_app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option(help="where to write the private key (PEM)")],
    key_type: Annotated[str, typer.Option("--type", help="EC (P-256) or RSA (2048)")] = "EC",
) -> None:
    """Make a key pair as a client would: private key to a file, public JWKS on stdout."""
    if key_type not in ("EC", "RSA"):
        typer.echo("--type must be EC or RSA", err=True)
        raise typer.Exit(2)
    pem = keys.generate_private_key_pem("EC" if key_type == "EC" else "RSA")
    out.touch(mode=0o600)
    out.write_bytes(pem)
    typer.echo(json.dumps({"keys": [keys.public_jwk(pem)]}, indent=2))


@clients_app.command("assertion")
def assertion(
    client_id: Annotated[str, typer.Argument()],
    private_key: Annotated[Path, typer.Option(help="the client's PEM private key")],
) -> None:
    """Print a signed client assertion, as the client system would make one, for curl."""
    settings = get_settings()
    pem = private_key.read_bytes()
    typer.echo(
        keys.client_assertion(
            pem,
            client_id=client_id,
            audience=settings.api.token_endpoint_url,
            kid=keys.public_jwk(pem)["kid"],
        )
    )


def token(client: Annotated[str, typer.Option("--client")] = "demo-app") -> None:
    """Print a bearer token for a registered client (development only; in production a
    client gets its tokens from POST /oauth2/token with a signed assertion)."""
    settings = get_settings()
    if settings.environment != "development":
        typer.echo("liaison token works in development only: use POST /oauth2/token", err=True)
        raise typer.Exit(2)
    with _uow(settings) as uow:
        try:
            registered = uow.clients.get(client)
        except SQLAlchemyError:
            registered = None  # not migrated yet: only the demo client can be named
        if registered is None and client != settings.development.demo_client_id:
            typer.echo(f"unknown client {client!r} (see `liaison clients list`)", err=True)
            raise typer.Exit(2)
        if registered is not None and registered.status != "active":
            typer.echo(f"client {client!r} has been revoked", err=True)
            raise typer.Exit(2)
        if registered is None:
            typer.echo(
                issue_token(
                    settings,
                    client_id=client,
                    organisation_ods=settings.development.demo_client_ods,
                )
            )
            return
        typer.echo(
            issue_token(
                settings,
                client_id=registered.client_id,
                organisation_ods=registered.organisation_ods,
                scopes=tuple(registered.scopes.split()),
                kind=registered.kind,
                practice_ods=(
                    registered.organisation_ods if registered.kind == "gp-practice" else None
                ),
            )
        )


def seed_demo_client(uow: UnitOfWork, settings: Settings) -> None:
    registry.seed_demo_client(uow, settings, now=datetime.now(UTC))


def register(app: typer.Typer) -> None:
    app.add_typer(clients_app, name="clients")
    app.command("token")(token)
