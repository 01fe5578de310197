"""The committed openapi.yaml is the contract: it must equal what the app serves."""

from pathlib import Path

import yaml

from gateway.openapi_export import openapi_document

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_matches_the_app() -> None:
    committed = yaml.safe_load((ROOT / "openapi.yaml").read_text())

    assert committed == openapi_document(), "openapi.yaml is stale: run `make openapi`"


def test_contract_lists_the_public_routes() -> None:
    paths = set(openapi_document()["paths"])

    assert {
        "/v1/recommendations",
        "/v1/recommendations/{recommendation_id}",
        "/v1/recommendations/{recommendation_id}/cancel",
        "/fhir/metadata",
        "/healthz",
        "/readyz",
    } <= paths
