"""The canonical base is the deployment's: LIAISON_FHIR__CANONICAL_BASE names every Liaison
profile, code system and identifier system the definitions and the builders carry."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from fhir_profiles.canonical import DEVELOPMENT_CANONICAL_BASE, CanonicalSettings

_REPO = Path(__file__).resolve().parents[2]
_PROBE = """
import json
from fhir_profiles import systems
from fhir_profiles.builders import build_resources
from fhir_profiles.conformance import definitions
from tests.fhir_profiles.factories import make_facts

resources = build_resources(make_facts())
print(json.dumps({
    "profile": resources.medication_request["meta"]["profile"],
    "identifier": resources.medication_request["identifier"][0]["system"],
    "urls": sorted(d["url"] for d in definitions().by_url.values()),
    "text": json.dumps([dict(d) for d in definitions().by_url.values()], default=str),
}))
"""


def _probe(base: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "LIAISON_FHIR__CANONICAL_BASE"}
    if base is not None:
        env["LIAISON_FHIR__CANONICAL_BASE"] = base
    env["PYTHONPATH"] = str(_REPO)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, cwd=_REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    probed: dict[str, object] = json.loads(done.stdout)
    return probed


def test_a_deployments_base_names_its_profiles_definitions_and_identifiers() -> None:
    probed = _probe("https://liaison.trust.nhs.uk/fhir/")
    base = "https://liaison.trust.nhs.uk/fhir"
    profiles, urls = probed["profile"], probed["urls"]
    assert isinstance(profiles, list)
    assert isinstance(urls, list)
    assert f"{base}/StructureDefinition/Liaison-MedicationRequest-Recommendation" in profiles
    assert probed["identifier"] == f"{base}/Id/recommendation"
    assert all(str(url).startswith(base) for url in urls)
    assert "{canonical}" not in str(probed["text"])
    assert DEVELOPMENT_CANONICAL_BASE not in str(probed["text"])


def test_unset_it_is_the_development_gateways_own_fhir_base() -> None:
    probed = _probe(None)
    assert probed["identifier"] == f"{DEVELOPMENT_CANONICAL_BASE}/Id/recommendation"


@pytest.mark.parametrize("base", ["ftp://x.nhs.uk/fhir", "https://x.nhs.uk/fhir#a", "/fhir"])
def test_a_base_that_is_no_canonical_is_refused(base: str) -> None:
    with pytest.raises(ValidationError):
        CanonicalSettings(canonical_base=base)
