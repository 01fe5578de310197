"""Links in answers (Location headers, `self`/`next` links, Bundle `fullUrl`s, the FHIR
CapabilityStatement's address) come from LIAISON_API__PUBLIC_BASE_URL, never from the Host header
a caller sends: `Host: evil.example` must not send the client's next request elsewhere."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.cli import sample_recommendation
from gateway.settings import ApiSettings, BrokerSettings, DatabaseSettings, Settings
from tests.gateway.fhir_samples import submission

PUBLIC = "https://liaison.example.nhs.uk"
EVIL = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/api.db"),
        broker=BrokerSettings(url="memory://"),
        api=ApiSettings(public_base_url=PUBLIC),
    )


def _no_evil(value: object) -> None:
    assert "evil.example" not in str(value)


def test_a_submissions_location_and_links_use_the_public_base_url(api: TestClient) -> None:
    accepted = api.post(
        "/v1/recommendations",
        json=sample_recommendation("Y00001"),
        headers={**EVIL, "Idempotency-Key": "links-1"},
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Location"].startswith(f"{PUBLIC}/v1/recommendations/")
    assert accepted.json()["links"]["self"] == accepted.headers["Location"]
    for url in accepted.json()["links"]["fhir"].values():
        assert url.startswith(f"{PUBLIC}/fhir/")
    got = api.get(accepted.headers["Location"].removeprefix(PUBLIC), headers=EVIL)
    _no_evil(got.text)


def test_paging_links_use_the_public_base_url(api: TestClient) -> None:
    for n in range(2):
        api.post(
            "/v1/recommendations",
            json=sample_recommendation("Y00001"),
            headers={"Idempotency-Key": f"links-page-{n}"},
        )
    page = api.get("/v1/recommendations", params={"limit": 1}, headers=EVIL).json()
    assert page["next"].startswith(f"{PUBLIC}/v1/recommendations?")
    deliveries = api.get("/ops/deliveries", params={"limit": 1}, headers=EVIL)
    assert deliveries.status_code == 200
    _no_evil(deliveries.text)
    search = api.get("/fhir/MedicationRequest", headers=EVIL).json()
    assert search["link"][0]["url"].startswith(f"{PUBLIC}/fhir/MedicationRequest")
    _no_evil(search)
    audit = api.get("/fhir/AuditEvent", params={"_count": 1}, headers=EVIL).json()
    assert audit["link"][0]["url"].startswith(f"{PUBLIC}/fhir/AuditEvent")
    assert all(link["url"].startswith(PUBLIC) for link in audit["link"])
    assert all(e["fullUrl"].startswith(f"{PUBLIC}/fhir/AuditEvent/") for e in audit["entry"])


def test_the_fhir_endpoints_address_is_the_public_one(api: TestClient) -> None:
    metadata = api.get("/fhir/metadata", headers=EVIL)
    assert metadata.status_code == 200
    assert metadata.json()["implementation"]["url"].startswith(f"{PUBLIC}/fhir")
    _no_evil(metadata.text)


def test_a_fhir_creates_location_uses_the_public_base_url(api: TestClient) -> None:
    created = api.post(
        "/fhir/MedicationRequest",
        json=submission("P-links"),
        headers={**EVIL, "Content-Type": "application/fhir+json"},
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"].startswith(f"{PUBLIC}/fhir/MedicationRequest/")
    search = api.get(
        "/fhir/MedicationRequest", params={"_count": 1, "status": "active"}, headers=EVIL
    )
    _no_evil(search.text)
