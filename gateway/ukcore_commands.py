"""`liaison ukcore check`: validate FHIR JSON files against the official UK Core R4 package
(and base R4 and Liaison's profiles), as the tests do for every builder output."""

import json
from pathlib import Path
from typing import Annotated

import typer

from fhir_profiles.ukcore import UkCorePackage, conformance_issues
from gateway.cli_help import command_group
from gateway.settings import get_settings

ukcore_app = command_group("Check resources against the official UK Core R4 definitions.")


@ukcore_app.command("check")
def check_command(
    files: Annotated[list[Path], typer.Argument(help="FHIR R4 JSON resources or Bundles")],
    package: Annotated[
        Path | None,
        typer.Option(help="UK Core package folder (default: the ukcore_dir setting)"),
    ] = None,
) -> None:
    """Exit 1 when any file breaks UK Core, base R4 or a Liaison profile it declares."""
    folder = package or get_settings().fhir.ukcore_dir
    if folder is None:
        typer.echo(
            "name the UK Core package folder: --package DIR or LIAISON_FHIR__UKCORE_DIR", err=True
        )
        raise typer.Exit(2)
    try:
        definitions = UkCorePackage.load(folder)
    except FileNotFoundError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    failed = False
    for path in files:
        try:
            resource = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            typer.echo(f"{path}: not readable JSON ({error})", err=True)
            failed = True
            continue
        issues = conformance_issues(resource, definitions) if isinstance(resource, dict) else []
        for issue in issues:
            typer.echo(f"{path}: {issue.path}: {issue.message}")
        failed = failed or bool(issues) or not isinstance(resource, dict)
        typer.echo(f"{path}: {'ok' if not issues else f'{len(issues)} issue(s)'}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(ukcore_app, name="ukcore")
