"""Liaison's conformance resources as /fhir serves them: each StructureDefinition with the
snapshot `liaison fhir-package` generated, when the deployment names that package's folder
(LIAISON_FHIR__PACKAGE_DIR), so that a validator or form builder reading the profile needs no
snapshot generator of its own (https://hl7.org/fhir/R4/profiling.html#snapshot)."""

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fhir_profiles.conformance import definitions, thaw
from fhir_profiles.fhir_package import published_snapshots
from gateway.logging import get_logger
from gateway.settings import Settings

_log = get_logger(__name__)


@cache
def _snapshots(folder: Path) -> Mapping[str, list[dict[str, Any]]]:
    # Read once per process: the package is written before the gateway starts.
    published = published_snapshots(folder, definitions().by_url)
    for reason in published.refused:
        _log.warning("fhir_package_profile_not_served", reason=reason)
    return published.by_url


def served_definition(settings: Settings, resource: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of one of Liaison's definitions, a profile with its snapshot when
    the configured package has one for this very version of it."""
    served: dict[str, Any] = thaw(resource)
    folder = settings.fhir.package_dir
    if served["resourceType"] != "StructureDefinition" or folder is None:
        return served
    snapshot = _snapshots(Path(folder)).get(served["url"])
    if snapshot is None:
        return served
    differential = served.pop("differential")
    return {**served, "snapshot": {"element": snapshot}, "differential": differential}
