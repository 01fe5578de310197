"""The stand-in's canned patients, shaped like PDS's published examples
(NHSDigital/personal-demographics-service-api, sandbox/mocks/Patient.json and
Sensitive_Patient.json). Every number is a synthetic 999-range test number with a valid
check digit; every name, date and address is made up.

One patient is registered at each practice a development directory may hold (the GP
simulator's Y00001-Y00099, A81001-A81099 and the other practices the tests use), so a
demo or a test addressed to practice P names a person PDS
registers at P (`registered_at`). A few more cover what PDS really answers.
"""

from dataclasses import dataclass, replace
from typing import Any, Final

# The demo's service user (docs/sample-recommendation.json), registered at Y00001.
DEMO: Final = "9434765919"
BIRTH_DATE: Final = "1974-03-02"
PHARMACY: Final = "FH542"  # the nominated pharmacy of every canned patient with one

# A valid number PDS has no record of (404 RESOURCE_NOT_FOUND).
UNKNOWN: Final = "9990000018"
# Asked for by its old number, PDS answers with the record of the current one.
SUPERSEDED: Final = "9990000026"
SUPERSEDED_BY: Final = "9990000034"
DECEASED: Final = "9990000042"
RESTRICTED: Final = "9990000050"
# Registered at a practice ODS shows as closed, with a successor / without one.
AT_MERGED_PRACTICE: Final = "9990000069"
AT_CLOSED_PRACTICE: Final = "9990000077"
MERGED_PRACTICE: Final = "Y00901"  # closed; succeeded by Y00001 (adapters.standins.ods)
CLOSED_PRACTICE: Final = "Y00902"  # closed; no successor
# Registered at Y00001, though a practitioner may still give their old practice.
MOVER: Final = "9990000085"

_PER_PRACTICE: Final = {
    "Y00001": DEMO,
    "Y00002": "9990000093",
    "Y00003": "9990000107",
    "Y00004": "9990000115",
    "Y00005": "9990000123",
    "Y00006": "9990000131",
    "Y00007": "9990000158",
    "Y00008": "9990000166",
    "A81001": "9990000174",
    "A81002": "9990000182",
    "A81003": "9990000190",
    "A81004": "9990000204",
    "A81005": "9990000212",
    "A81009": "9990000220",
    "N00001": "9990000239",
    "M81001": "9990000247",
    "H00001": "9990000255",
    "Y00100": "9990000263",  # the development practice inbox (liaison dev's banner)
}


def _test_number(base: int) -> str:
    """The first valid synthetic number at or after the 9-digit `base` (weights 10..2,
    11 - sum mod 11; a check digit of 10 is impossible, so that base is skipped)."""
    while True:
        digits = f"{base:09d}"
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            return digits + str(0 if check == 11 else check)
        base += 1


def _development_practices() -> dict[str, str]:
    """Every practice code a development directory may hold (Y00001-Y00099, A81001-A81099,
    and a few others the tests use) has its own patient, so a new simulator practice is
    routed to itself without editing this table."""
    numbers: dict[str, str] = {}
    for prefix, block in (("Y000", 999_010_000), ("A81", 999_020_000)):
        for n in range(1, 100):
            code = f"{prefix}{n:02d}" if prefix == "Y000" else f"{prefix}0{n:02d}"
            numbers[code] = _test_number(block + n * 10)
    return numbers


@dataclass(frozen=True)
class CannedPatient:
    nhs_number: str
    given: str
    family: str
    birth_date: str
    practice: str | None
    pharmacy: str | None = PHARMACY
    deceased_at: str | None = None
    restricted: bool = False


def _registrations() -> dict[str, str]:
    return {**_development_practices(), **_PER_PRACTICE}


def canned() -> dict[str, CannedPatient]:
    patients = {
        nhs: CannedPatient(nhs, "Sam", "Taylor", BIRTH_DATE, ods)
        for ods, nhs in _registrations().items()
    }
    extra = [
        CannedPatient(SUPERSEDED_BY, "Sam", "Taylor", BIRTH_DATE, "Y00001"),
        CannedPatient(
            DECEASED, "Sam", "Taylor", BIRTH_DATE, "Y00001", deceased_at="2026-10-01T00:00:00+00:00"
        ),
        CannedPatient(RESTRICTED, "Sam", "Taylor", BIRTH_DATE, "Y00001", restricted=True),
        CannedPatient(AT_MERGED_PRACTICE, "Sam", "Taylor", BIRTH_DATE, MERGED_PRACTICE),
        CannedPatient(AT_CLOSED_PRACTICE, "Sam", "Taylor", BIRTH_DATE, CLOSED_PRACTICE),
        CannedPatient(MOVER, "Sam", "Taylor", BIRTH_DATE, "Y00001"),
    ]
    patients.update({p.nhs_number: p for p in extra})
    return patients


SUPERSESSIONS: Final = {SUPERSEDED: SUPERSEDED_BY}


def registered_at(ods_code: str) -> str:
    """The canned patient registered at `ods_code` (the demo's for a practice without one)."""
    return _registrations().get(ods_code, DEMO)


def moved(patient: CannedPatient, ods_code: str) -> CannedPatient:
    return replace(patient, practice=ods_code)


_NHS_NUMBER_VERIFIED: Final = {
    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
    "valueCodeableConcept": {
        "coding": [
            {
                "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus",
                "version": "1.0.0",
                "code": "01",
                "display": "Number present and verified",
            }
        ]
    },
}


def _identity(patient: CannedPatient, version: int) -> dict[str, Any]:
    """What PDS returns for every record, restricted or not: number, name, birth date."""
    return {
        "resourceType": "Patient",
        "id": patient.nhs_number,
        "identifier": [
            {
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": patient.nhs_number,
                "extension": [_NHS_NUMBER_VERIFIED],
            }
        ],
        "meta": {
            "versionId": str(version),
            "security": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                    "code": "R" if patient.restricted else "U",
                    "display": "restricted" if patient.restricted else "unrestricted",
                }
            ],
        },
        "name": [
            {
                "id": "123",
                "use": "usual",
                "period": {"start": "2020-01-01"},
                "given": [patient.given],
                "family": patient.family,
            }
        ],
        "gender": "female",
        "birthDate": patient.birth_date,
    }


def resource(patient: CannedPatient, *, version: int) -> dict[str, Any]:
    """The patient as PDS's `GET /Patient/{id}` returns it (sandbox/mocks/Patient.json)."""
    body = _identity(patient, version)
    if patient.deceased_at:
        body["deceasedDateTime"] = patient.deceased_at
    if patient.restricted:
        # Sensitive_Patient.json: no address, telecom or generalPractitioner.
        return body
    if patient.practice:
        body["generalPractitioner"] = [
            {
                "id": "254406A3",
                "type": "Organization",
                "identifier": {
                    "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                    "value": patient.practice,
                    "period": {"start": "2020-01-01"},
                },
            }
        ]
    if patient.pharmacy:
        body["extension"] = [
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NominatedPharmacy",
                "valueReference": {
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": patient.pharmacy,
                    }
                },
            }
        ]
    body["address"] = [
        {
            "id": "456",
            "period": {"start": "2020-01-01"},
            "use": "home",
            "line": ["1 Example Street"],
            "postalCode": "LS1 6AE",
        }
    ]
    return body
