"""/ops/practices: the practice directory and each practice's health, for integration
engineers; and the YAML seeding and `liaison practices` commands that fill it."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.cli import app as cli
from gateway.cli import sample_recommendation
from gateway.domain.isolation import BreakerPolicy
from gateway.practice_directory import load_directory, seed
from gateway.security.scopes import PRACTICE_ADMIN_SCOPE
from gateway.security.tokens import ALL_SCOPES, issue_token
from gateway.services.inbox_accounts import sign_in
from gateway.services.practice_access import record_call
from gateway.settings import Settings, get_settings
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts

# The issue's own example directory.
ISSUE_EXAMPLE = """
practices:
  - {ods_code: A81001, adapter: fhir, base_url: "https://gp.example/fhir",
     auth: {type: bearer, token_env: LIAISON_PRACTICE_SECRET_A81001_TOKEN}}
  - {ods_code: A81002, adapter: mesh, mailbox: X26ABC2, workflow_id: GPCONNECT_SEND_DOCUMENT}
  - {ods_code: A81003, adapter: inbox}
  - {ods_code: Y00001, adapter: simulator}
"""


def _uow(api: TestClient) -> UnitOfWork:
    return UnitOfWork(api.app.state.session_factory)  # type: ignore[attr-defined]


def _practice_admin(settings: Settings) -> dict[str, str]:
    """A client that may change practices' connections (scope practice-admin; none by default)."""
    token = issue_token(
        settings,
        client_id="directory-admin",
        organisation_ods="RX3",
        scopes=(*ALL_SCOPES, PRACTICE_ADMIN_SCOPE),
    )
    return {"Authorization": f"Bearer {token}"}


def test_every_practice_is_listed_with_its_breaker(api: TestClient) -> None:
    response = api.get("/ops/practices")
    assert response.status_code == 200
    practices = {p["ods_code"]: p for p in response.json()["practices"]}
    assert set(practices) >= {"Y00001", "Y00002", "Y00003", "Y00004", "Y00005"}
    assert practices["Y00001"]["adapter"] == "simulator"
    assert practices["Y00001"]["health"]["breaker"]["state"] == "closed"


def test_put_creates_then_replaces_a_practice_showing_only_references(
    api: TestClient, settings: Settings
) -> None:
    entry: dict[str, Any] = {
        "adapter": "fhir",
        "base_url": "https://gp.example/fhir",
        "auth": {"type": "bearer", "token_env": "LIAISON_PRACTICE_SECRET_A81001_TOKEN"},
        "rate_limit_per_minute": 60,
        "callback_secret_env": "LIAISON_PRACTICE_SECRET_A81001_CALLBACK_SECRET",
    }
    created = api.put("/ops/practices/A81001", json=entry, headers=_practice_admin(settings))
    assert created.status_code == 201, created.text
    assert created.json()["auth"] == {
        "type": "bearer",
        "token_env": "LIAISON_PRACTICE_SECRET_A81001_TOKEN",
    }
    assert created.json()["source"] == "api"

    # An operational field alone: the ops scope suffices.
    replaced = api.put("/ops/practices/A81001", json={**entry, "rate_limit_per_minute": 30})
    assert replaced.status_code == 200
    got = api.get("/ops/practices/A81001").json()
    assert got["rate_limit_per_minute"] == 30
    assert got["health"]["deliveries_in_flight"] == 0

    # A practice in the directory can be sent to; one that is not gets a clear 422.
    ok = api.post(
        "/v1/recommendations",
        json=sample_recommendation("A81001"),
        headers={"Idempotency-Key": "practices-1"},
    )
    assert ok.status_code == 202, ok.text
    unknown = api.post(
        "/v1/recommendations",
        json=sample_recommendation("Q99999"),
        headers={"Idempotency-Key": "practices-2"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "gp_practice.ods_code"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"adapter": "fhir"}, "body"),  # no base_url
        ({"adapter": "carrier-pigeon"}, "adapter"),
        # MESH workflow ids are registered nationally: none of Liaison's own invention.
        ({"adapter": "mesh", "workflow_id": "LIAISON_MEDREC"}, "workflow_id"),
        ({"adapter": "fhir", "base_url": "https://x.example", "mailbox": "X26ABC2"}, "body"),
        (
            {
                "adapter": "fhir",
                "base_url": "https://x.example",
                "auth": {"type": "bearer", "token": "s3cret"},
            },
            "auth.bearer.token",
        ),
        ({"adapter": "inbox", "rate_limit_per_minute": 0}, "rate_limit_per_minute"),
    ],
)
def test_a_bad_entry_is_422_naming_the_field_and_stores_nothing(
    api: TestClient, entry: dict[str, Any], field: str
) -> None:
    response = api.put("/ops/practices/A81005", json=entry)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    assert api.get("/ops/practices/A81005").status_code == 404


def test_an_unknown_practice_is_404_and_a_bad_code_422(api: TestClient) -> None:
    assert api.get("/ops/practices/Q12345").status_code == 404
    assert api.get("/ops/practices/not-an-ods-code").status_code == 422


def test_the_practice_directory_needs_the_ops_scope(api: TestClient, settings: Settings) -> None:
    token = issue_token(
        settings, client_id="demo-app", organisation_ods="RX3", scopes=("recommendations",)
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/ops/practices", headers=headers).status_code == 403
    put = api.put("/ops/practices/A81001", json={"adapter": "inbox"}, headers=headers)
    assert put.status_code == 403


def test_an_open_breaker_is_visible(api: TestClient) -> None:
    policy = BreakerPolicy(failure_threshold=2, open_seconds=60, probe_lease_seconds=30)
    with _uow(api) as uow:
        for _ in range(2):
            record_call(
                uow,
                "Y00004",
                healthy=False,
                error="POST /fhir answered 503",
                now=datetime.now(UTC),
                policy=policy,
            )
        uow.commit()
    breaker = api.get("/ops/practices/Y00004").json()["health"]["breaker"]
    assert breaker["state"] == "open"
    assert breaker["consecutive_failures"] == 2
    assert "503" in breaker["last_error"]


def test_the_issues_yaml_example_seeds_the_directory(
    api: TestClient, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "practices.yaml"
    path.write_text(ISSUE_EXAMPLE)
    with _uow(api) as uow:
        assert seed(uow, load_directory(path), settings=settings) == 4
    got = {p["ods_code"]: p for p in api.get("/ops/practices").json()["practices"]}
    assert got["A81001"]["auth"] == {
        "type": "bearer",
        "token_env": "LIAISON_PRACTICE_SECRET_A81001_TOKEN",
    }
    assert (got["A81002"]["mailbox"], got["A81002"]["workflow_id"]) == (
        "X26ABC2",
        "GPCONNECT_SEND_DOCUMENT",
    )
    assert got["A81003"]["adapter"] == "inbox"


def test_start_up_seeding_keeps_what_engineers_changed_but_import_overwrites(
    api: TestClient, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "practices.yaml"
    path.write_text(ISSUE_EXAMPLE)
    api.put(
        "/ops/practices/A81003",
        json={"adapter": "inbox", "rate_limit_per_minute": 5},
        headers=_practice_admin(settings),
    )
    with _uow(api) as uow:
        seed(uow, load_directory(path), settings=settings)
    assert api.get("/ops/practices/A81003").json()["rate_limit_per_minute"] == 5
    with _uow(api) as uow:
        seed(uow, load_directory(path), settings=settings, overwrite=True)
    assert api.get("/ops/practices/A81003").json()["rate_limit_per_minute"] is None


def test_a_yaml_typo_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"practices": [{"ods_code": "A81001", "adapter": "fhir", "base_uri": "x"}]})
    )
    with pytest.raises(ValueError, match="base_uri"):
        load_directory(path)


def test_yaml_inbox_users_get_argon2_hashes_from_a_password_reference(
    api: TestClient, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LIAISON_PRACTICE_SECRET_A81003_NURSE_PASSWORD", "correct horse battery staple"
    )
    path = tmp_path / "practices.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "practices": [
                    {
                        "ods_code": "A81003",
                        "adapter": "inbox",
                        "inbox_users": [
                            {
                                "username": "nurse",
                                "password_env": "LIAISON_PRACTICE_SECRET_A81003_NURSE_PASSWORD",
                            }
                        ],
                    }
                ]
            }
        )
    )
    with _uow(api) as uow:
        seed(uow, load_directory(path), settings=settings)
    with _uow(api) as uow:
        [user] = uow.inbox.users("A81003")
        assert user.password_hash.startswith("$argon2id$")
        assert "horse" not in user.password_hash
        now = datetime.now(UTC)
        assert sign_in(uow, ods_code="A81003", username="nurse", password="nope", now=now) is None
        assert sign_in(
            uow,
            ods_code="A81003",
            username="nurse",
            password="correct horse battery staple",
            now=now,
        )


def test_the_practices_cli_sets_imports_and_lists_practices_and_refuses_bad_entries(
    api: TestClient, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIAISON_DATABASE__URL", settings.database.url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(
            cli,
            [
                "practices",
                "set",
                "b82001",
                "--adapter",
                "fhir",
                "--base-url",
                "https://b.example/fhir",
                "--token-env",
                "LIAISON_PRACTICE_SECRET_B82001_TOKEN",
                "--rate-limit",
                "30",
            ],
        )
        assert added.exit_code == 0, added.output
        assert "added B82001" in added.output
        changed = runner.invoke(cli, ["practices", "set", "B82001", "--rate-limit", "10"])
        assert changed.exit_code == 0, changed.output
        refused = runner.invoke(
            cli,
            ["practices", "set", "B82002", "--adapter", "mesh", "--workflow-id", "LIAISON_MEDREC"],
        )
        assert refused.exit_code == 2
        assert "registered MESH workflow" in refused.output

        path = tmp_path / "practices.yaml"
        path.write_text(ISSUE_EXAMPLE)
        imported = runner.invoke(cli, ["practices", "import", str(path)])
        assert imported.exit_code == 0, imported.output

        user = runner.invoke(
            cli,
            ["practices", "add-user", "A81003", "reception", "--password-stdin"],
            input="a long enough password\n",
        )
        assert user.exit_code == 0, user.output
        weak = runner.invoke(
            cli, ["practices", "add-user", "A81003", "r2", "--password-stdin"], input="short\n"
        )
        assert weak.exit_code == 2

        listed = runner.invoke(cli, ["practices", "list"])
        assert listed.exit_code == 0, listed.output
        assert "B82001" in listed.output
        assert "A81002" in listed.output
        assert "1 inbox user(s)" in listed.output
    finally:
        get_settings.cache_clear()
    got = api.get("/ops/practices/B82001").json()
    assert (got["rate_limit_per_minute"], got["source"]) == (10, "cli")
    assert got["auth"]["token_env"] == "LIAISON_PRACTICE_SECRET_B82001_TOKEN"


def test_refused_puts_leave_no_rows(api: TestClient) -> None:
    before = row_counts(api)
    api.put("/ops/practices/A81001", json={"adapter": "fhir"})
    assert row_counts(api) == before
