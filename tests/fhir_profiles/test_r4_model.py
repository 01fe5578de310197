"""The R4 tables FHIRPath resolves types with are fhirpathpy's own, read without the rest."""

import subprocess
import sys

from fhir_profiles.r4_model import R4_MODEL


def test_the_tables_are_fhirpathpys_r4_model() -> None:
    from fhirpathpy.models import models  # all four releases: only this test loads them

    assert models["r4"] == R4_MODEL


def test_validation_loads_no_other_release() -> None:
    probe = (
        "import sys, fhir_profiles.validation, fhir_profiles.profiles, fhir_profiles.r4_shape\n"
        "assert 'fhirpathpy.models' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
