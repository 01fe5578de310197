"""`liaison catalogue import|list`: load dm+d codes from the deployment's own dm+d release.

Liaison ships no dm+d code (none was verified from a public source). A deployment that
holds the NHSBSA dm+d release unzips it and runs `liaison catalogue import <folder>`: the
catalogue products get their VMP codes and the clinical-safety rules their VTM, VMP and AMP
codes, each recorded with the release it came from. Importing again replaces the last import.
Products are matched on concept id when one is expected (`--code KEY=VPID`, or a code the
catalogue ships with its source), so a release spelling a name differently still matches;
the name difference is printed as a warning.
"""

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from fhir_profiles.catalogue import CATALOGUE
from fhir_profiles.dmd_release import Concept, ImportReport, match_release, read_concepts
from fhir_profiles.safety import rules
from gateway.cli_help import command_group
from gateway.settings import get_settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.unit_of_work import UnitOfWork

catalogue_app = command_group(
    "The stop-smoking medicines catalogue and the dm+d codes a deployment imported."
)

# NHSBSA names each file of a release f_<kind>2_<release>.xml (e.g. f_vmp2_3091025.xml).
_FILES = {
    "vtm": ("VTM", "VTMID", None),
    "vmp": ("VMP", "VPID", "VTMID"),
    "amp": ("AMP", "APID", "VPID"),
}


def _file(folder: Path, kind: str) -> Path | None:
    found = sorted(folder.glob(f"f_{kind}2_*.xml"))
    return found[-1] if found else None


def _concepts(path: Path | None, kind: str) -> list[Concept]:
    if path is None:
        return []
    record, id_tag, parent_tag = _FILES[kind]
    with path.open("rb") as stream:
        return list(read_concepts(stream, record, id_tag, parent_tag))


def parse_codes(pairs: list[str]) -> dict[str, str]:
    """`KEY=VPID` pairs, each key a catalogue product and each id a dm+d concept id."""
    expected: dict[str, str] = {}
    for pair in pairs:
        key, _, code = pair.partition("=")
        if key not in CATALOGUE:
            raise ValueError(f"--code {pair!r}: {key!r} is not a catalogue product")
        if not (code.isdigit() and 6 <= len(code) <= 18):
            raise ValueError(f"--code {pair!r}: {code!r} is not a dm+d concept id")
        expected[key] = code
    return expected


def import_release(
    folder: Path, *, release: str | None = None, expected: dict[str, str] | None = None
) -> ImportReport:
    """Read the release in `folder` and store its codes (replacing the previous import)."""
    vmp_file = _file(folder, "vmp")
    if vmp_file is None:
        raise FileNotFoundError(f"no f_vmp2_*.xml in {folder}: is it an unzipped dm+d release?")
    label = release or re.sub(r"^f_vmp2_|\.xml$", "", vmp_file.name)
    report = match_release(
        vtms=_concepts(_file(folder, "vtm"), "vtm"),
        vmps=_concepts(vmp_file, "vmp"),
        amps=_concepts(_file(folder, "amp"), "amp"),
        products=CATALOGUE.values(),
        rules=rules(),
        source=f"dm+d release {label} ({folder.name})",
        expected=expected,
    )
    engine = make_engine(get_settings().database.url)
    try:
        with UnitOfWork(make_session_factory(engine)) as uow:
            uow.catalogue_codes.replace_all(report.codes, now=datetime.now(UTC))
            uow.commit()
    finally:
        engine.dispose()
    return report


@catalogue_app.command("import")
def import_command(
    folder: Annotated[Path, typer.Argument(help="the unzipped NHSBSA dm+d release folder")],
    release: Annotated[
        str | None, typer.Option(help="release name to record as the source")
    ] = None,
    code: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VPID: the dm+d id a catalogue product must have (repeatable)"),
    ] = None,
) -> None:
    """Import dm+d codes for the catalogue and the clinical-safety rules."""
    if not folder.is_dir():
        typer.echo(f"{folder} is not a folder", err=True)
        raise typer.Exit(2)
    try:
        report = import_release(folder, release=release, expected=parse_codes(code or []))
    except (FileNotFoundError, ValueError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    products = sum(1 for code in report.codes.codes if code.kind == "product")
    safety = sum(1 for code in report.codes.codes if code.kind == "safety-rule")
    typer.echo(f"imported {products} product codes and {safety} clinical-safety codes")
    for key in report.unmatched_products:
        typer.echo(
            f"  no VMP with the id or name of catalogue product {key} ({CATALOGUE[key].name})"
        )
    for warning in report.warnings:
        typer.echo(f"  warning: {warning}")
    for key in report.rules_without_codes:
        typer.echo(f"  no VTM for clinical-safety rule {key} (matched by name only)")


@catalogue_app.command("list")
def list_command() -> None:
    """Show the catalogue with any imported dm+d code and where it came from."""
    engine = make_engine(get_settings().database.url)
    try:
        with UnitOfWork(make_session_factory(engine)) as uow:
            imported = uow.catalogue_codes.imported()
    finally:
        engine.dispose()
    for product in CATALOGUE.values():
        coded = imported.product(product)
        where = (
            f"dm+d {coded.dmd_code} from {coded.code_source}" if coded.dmd_code else "no dm+d code"
        )
        typer.echo(f"{product.key}\t{product.name}\t{where}")


def register(app: typer.Typer) -> None:
    app.add_typer(catalogue_app, name="catalogue")
