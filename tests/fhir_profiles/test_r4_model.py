"""The R4 tables FHIRPath resolves types with are fhirpathpy's own, read without the rest."""

import subprocess
import sys
from pathlib import Path

from fhir_profiles.r4_model import R4_MODEL

ROOT = Path(__file__).resolve().parents[2]


def test_the_tables_are_fhirpathpys_r4_model() -> None:
    from fhirpathpy.models import models  # all four releases: only this test loads them

    assert models["r4"] == R4_MODEL


def test_validation_loads_no_other_release() -> None:
    probe = (
        "import sys, fhir_profiles.validation, fhir_profiles.profiles, fhir_profiles.r4_shape\n"
        "assert 'fhirpathpy.models' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)


def test_building_a_recommendation_loads_no_r4b_model() -> None:
    # The API builds every submission's resources; the R4B models (about 9 MB a process) are
    # for the builder tests and for checking FHIR resources a client sends.
    probe = (
        "import json, sys, uuid\n"
        "from datetime import UTC, datetime\n"
        "from pathlib import Path\n"
        "from fhir_profiles.builders import build_resources, build_transaction_bundle\n"
        "from gateway.services.intake import facts_from_payload\n"
        "payload = json.loads(Path('docs/sample-recommendation.json').read_text())\n"
        "facts = facts_from_payload(payload, recommendation_id=str(uuid.uuid4()),"
        " authored_on=datetime.now(UTC))\n"
        "built = build_resources(facts)\n"
        "bundle = build_transaction_bundle(built, delivery_id=str(uuid.uuid4()))\n"
        "assert len(bundle['entry']) >= 6, bundle\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('fhir.resources', 'fhir_core')))\n"
        "assert loaded == [], loaded\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60, cwd=ROOT)
