"""`liaison fhir-package --out DIR`: write Liaison's definitions as a FHIR package (package.json
and every conformance resource, StructureDefinitions with snapshots), for an implementation
guide, a validator, or the gateway's `/fhir/StructureDefinition` (LIAISON_FHIR__PACKAGE_DIR)."""

from pathlib import Path
from typing import Annotated

import typer

from fhir_profiles.canonical import canonical_base
from fhir_profiles.conformance import CONFORMANCE_TYPES, definitions
from fhir_profiles.fhir_package import (
    DEFAULT_NAME,
    ProfileSources,
    package_files,
    write_package,
)
from fhir_profiles.r4_definitions import R4Definitions
from fhir_profiles.snapshots import SnapshotError
from gateway.settings import get_settings


def fhir_package_command(
    out: Annotated[Path, typer.Option(help="Folder to write package/ into")],
    r4: Annotated[
        Path,
        typer.Option(
            help="Folder holding HL7's FHIR R4 profiles-resources.json and profiles-types.json "
            "(from https://hl7.org/fhir/R4/definitions.json.zip)"
        ),
    ],
    ukcore: Annotated[
        Path | None,
        typer.Option(help="UK Core package folder (default: the ukcore_dir setting)"),
    ] = None,
    name: Annotated[str, typer.Option(help="The package's name")] = DEFAULT_NAME,
) -> None:
    """Write package/ under --out: the snapshots are generated from each differential through
    UK Core down to base R4, under this deployment's canonical base."""
    folder = ukcore or get_settings().fhir.ukcore_dir
    if folder is None:
        typer.echo(
            "name the UK Core package folder: --ukcore DIR or LIAISON_FHIR__UKCORE_DIR", err=True
        )
        raise typer.Exit(2)
    try:
        sources = ProfileSources(R4Definitions.load(r4), folder)
        resources = [
            resource for kind in CONFORMANCE_TYPES for resource in definitions().by_type[kind]
        ]
        files = package_files(resources, sources, canonical_base(), name=name)
    except (FileNotFoundError, SnapshotError, ValueError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    written = write_package(out, files)
    manifest = files["package.json"]
    typer.echo(f"{manifest['name']}#{manifest['version']}: {len(files)} files in {written}")


def register(app: typer.Typer) -> None:
    app.command("fhir-package")(fhir_package_command)
