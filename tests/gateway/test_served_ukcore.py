"""Served AuditEvents and OperationOutcomes claim UK Core profiles that exist in the
official package (../shared/ukcore, UKCore.R4.STU.02.00.00)."""

import re

import pytest

from fhir_profiles import systems
from tests.fhir_profiles.ukcore_package import ukcore_folder


def _official_urls() -> set[str]:
    folder = ukcore_folder() / "structuredefinitions"
    if not folder.is_dir():
        pytest.skip("UK Core package not present")
    pattern = re.compile(r'<url value="([^"]+)"')
    return {m.group(1) for f in folder.glob("*.xml") for m in pattern.finditer(f.read_text())}


@pytest.mark.parametrize("profile", [systems.UKCORE_AUDIT_EVENT, systems.UKCORE_OPERATION_OUTCOME])
def test_claimed_profile_exists_in_uk_core(profile: str) -> None:
    assert profile in _official_urls()
