"""The official UK Core R4 package the tests validate against: ../shared/ukcore beside the
repository, or the folder LIAISON_FHIR__UKCORE_DIR names. Never copied into the project."""

import os
from functools import cache
from pathlib import Path

from fhir_profiles.ukcore import UkCorePackage

_REPO = Path(__file__).resolve().parents[2]


def ukcore_folder() -> Path:
    return Path(os.environ.get("LIAISON_FHIR__UKCORE_DIR") or _REPO.parent / "shared" / "ukcore")


@cache
def ukcore() -> UkCorePackage:
    return UkCorePackage.load(ukcore_folder())
