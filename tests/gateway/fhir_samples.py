"""A FHIR-native proposal (Liaison-MedicationRequest-Submission) and an API over a database
migrated once per test module, for the /fhir tests."""

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from fhir_profiles import systems
from gateway.api.app import create_app
from gateway.practice_directory import dev_directory, seed
from gateway.security.tokens import issue_token
from gateway.settings import ApiSettings, BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork

APP_IDENTIFIER_SYSTEM = "https://case-app.example.org/Id/proposal"
UCUM = "http://unitsofmeasure.org"


def submission(identifier: str = "P-0001", **changes: Any) -> dict[str, Any]:
    """A valid proposal for Y00001, for someone on clozapine, with a psychiatrist to tell."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "meta": {"profile": [systems.PROFILE_MEDICATION_REQUEST_SUBMISSION]},
        "contained": [
            {
                "resourceType": "Patient",
                "id": "su",
                "identifier": [{"system": systems.NHS_NUMBER, "value": "9434765919"}],
                "name": [{"given": ["Sam"], "family": "Taylor"}],
                "birthDate": "1974-03-02",
                "telecom": [
                    {"system": "phone", "use": "mobile", "value": "07700 900123", "rank": 1},
                    {"system": "email", "value": "sam@example.org", "rank": 2},
                ],
                "generalPractitioner": [
                    {"identifier": {"system": systems.ODS_ORGANIZATION_CODE, "value": "Y00001"}}
                ],
            },
            {
                "resourceType": "Practitioner",
                "id": "pr",
                "identifier": [{"system": systems.PRACTITIONER_ID, "value": "mhscp-001"}],
                "name": [{"text": "Alex Morgan"}],
                "telecom": [
                    {"system": "email", "value": "alex.morgan@example.nhs.uk", "use": "work"}
                ],
            },
        ],
        "extension": [
            {
                "url": systems.EXT_CONSENT,
                "extension": [
                    {"url": "shareWithGP", "valueBoolean": True},
                    {"url": "notifyServiceUser", "valueBoolean": True},
                    {"url": "recordedAt", "valueDateTime": "2026-11-25T10:00:00Z"},
                ],
            },
            {"url": systems.EXT_CESSATION_PLAN, "valueCode": "quit"},
            {
                "url": systems.EXT_CARE_TEAM_CONTACT,
                "extension": [
                    {"url": "role", "valueCode": "care-coordinator"},
                    {
                        "url": "contact",
                        "valueContactDetail": {
                            "name": "Pat Reid",
                            "telecom": [{"system": "email", "value": "pat.reid@example.nhs.uk"}],
                        },
                    },
                ],
            },
            {
                "url": systems.EXT_CURRENT_MEDICATION,
                "valueCodeableConcept": {"text": "Clozaril 300mg daily"},
            },
        ],
        "identifier": [{"system": APP_IDENTIFIER_SYSTEM, "value": identifier}],
        "status": "active",
        "intent": "proposal",
        "medicationCodeableConcept": {
            "coding": [{"system": systems.MEDICATION_CATALOGUE, "code": "varenicline-1mg-tablets"}],
            "text": "Varenicline 1mg tablets",
        },
        "subject": {
            "reference": "#su",
            "identifier": {"system": systems.NHS_NUMBER, "value": "9434765919"},
        },
        "requester": {"reference": "#pr"},
        "dosageInstruction": [{"text": "1 mg twice daily"}],
        "dispenseRequest": {
            "expectedSupplyDuration": {"value": 84, "unit": "days", "system": UCUM, "code": "d"}
        },
        "substitution": {"allowedBoolean": True},
        "note": [{"text": "Prefers home visits"}],
    }
    resource.update(copy.deepcopy(changes))
    return resource


@contextmanager
def module_api(folder: Path, **overrides: Any) -> Iterator[tuple[TestClient, Settings]]:
    settings = Settings(
        data_dir=folder,
        **overrides,
        database=DatabaseSettings(url=f"sqlite:///{folder}/fhir.db"),
        broker=BrokerSettings(url="memory://"),
        api=ApiSettings(max_body_bytes=32 * 1024),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
    engine.dispose()
    app = create_app(settings)
    token = issue_token(settings, client_id="demo-app", organisation_ods="RX3")
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client, settings
    app.state.engine.dispose()


def bearer(settings: Settings, **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(settings, **claims)}
