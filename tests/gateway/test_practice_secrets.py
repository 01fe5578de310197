"""The practice directory cannot be turned against Liaison's own secrets: a credential
reference names only a variable in the reserved namespace LIAISON_PRACTICE_SECRET_*, the
`ops` scope cannot change where a practice's requests go or with which credentials, and in
production every endpoint is https (and on LIAISON_DELIVERY__GP_ALLOWED_HOSTS when that is set)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.api.app import create_app
from gateway.cli import app as cli
from gateway.practice_directory import PracticeEntryRefused, load_directory, seed
from gateway.security import clients as registry
from gateway.security import keys
from gateway.security.scopes import PRACTICE_ADMIN_SCOPE
from gateway.security.tokens import ALL_SCOPES, issue_token
from gateway.settings import (
    ApiSettings,
    BrokerSettings,
    DatabaseSettings,
    DeliverySettings,
    FhirSettings,
    NotifySettings,
    PdsSettings,
    SecuritySettings,
    Settings,
    get_settings,
)
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Practice
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts
from workers.gp_systems import PracticeEndpoint, Unavailable, gp_system_factory

ATTACKER = "http://attacker.example/fhir"
# Liaison's own settings and unrelated variables: never a practice credential.
NOT_PRACTICE_SECRETS = [
    "LIAISON_SECURITY__SECRET_KEY",
    "LIAISON_DATABASE__URL",
    "LIAISON_NOTIFY__API_KEY",
    "PATH",
    "HOME",
    "liaison_practice_secret_lowercase",
    "LIAISON_PRACTICE_SECRET_",
]
PROD: dict[str, Any] = {
    "environment": "production",
    "security": SecuritySettings(secret_key="s" * 48),
    "notify": NotifySettings(api_key="live-" + "n" * 40),
    "api": ApiSettings(public_base_url="https://liaison.example.nhs.uk"),
    "fhir": FhirSettings(canonical_base="https://liaison.example.nhs.uk/fhir"),
    "pds": PdsSettings(mode="off"),
}


def _uow(api: TestClient) -> UnitOfWork:
    return UnitOfWork(api.app.state.session_factory)  # type: ignore[attr-defined]


def _bearer(settings: Settings, *scopes: str) -> dict[str, str]:
    token = issue_token(settings, client_id="engineer", organisation_ods="RX3", scopes=scopes)
    return {"Authorization": f"Bearer {token}"}


def _admin(settings: Settings) -> dict[str, str]:
    return _bearer(settings, *ALL_SCOPES, PRACTICE_ADMIN_SCOPE)


def _entry(api: TestClient, ods: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/ops/practices/{ods}").json()
    body.pop("health", None)
    return body


def _naming(field: str, name: str) -> dict[str, Any]:
    """A FHIR practice entry whose `field` names the variable `name`."""
    entry: dict[str, Any] = {"adapter": "fhir", "base_url": "https://gp.example/fhir"}
    if field == "auth.bearer.token_env":
        entry["auth"] = {"type": "bearer", "token_env": name}
    elif field == "auth.smart-backend.private_key_env":
        entry["auth"] = {
            "type": "smart-backend",
            "token_url": "https://gp.example/token",
            "client_id": "liaison",
            "private_key_env": name,
        }
    else:
        entry[field] = name
    return entry


@pytest.mark.parametrize("name", NOT_PRACTICE_SECRETS)
@pytest.mark.parametrize(
    "field",
    ["auth.bearer.token_env", "auth.smart-backend.private_key_env", "callback_secret_env"],
)
def test_a_reference_outside_the_practice_secret_namespace_is_refused_naming_the_field(
    api: TestClient, settings: Settings, name: str, field: str
) -> None:
    before = _entry(api, "Y00001")
    rows = row_counts(api)

    # Even a client that may change connections cannot name such a variable.
    response = api.put("/ops/practices/Y00001", json=_naming(field, name), headers=_admin(settings))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [field]
    assert "LIAISON_PRACTICE_SECRET_" in problem["detail"]
    assert _entry(api, "Y00001") == before
    assert row_counts(api) == rows


def test_the_issues_attack_is_refused_and_changes_nothing(api: TestClient) -> None:
    before = _entry(api, "Y00001")
    attack = {
        "adapter": "fhir",
        "base_url": ATTACKER,
        "auth": {"type": "bearer", "token_env": "LIAISON_SECURITY__SECRET_KEY"},
    }

    response = api.put("/ops/practices/Y00001", json=attack)  # the demo token: scope ops

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "auth.bearer.token_env"
    assert _entry(api, "Y00001") == before


def test_an_ops_client_cannot_change_a_practices_endpoint_or_credentials(
    api: TestClient, settings: Settings
) -> None:
    before = _entry(api, "Y00001")
    ops = _bearer(settings, "ops")
    for change, fields in [
        (
            {
                "adapter": "fhir",
                "base_url": ATTACKER,
                "auth": {"type": "bearer", "token_env": "LIAISON_PRACTICE_SECRET_Y00001"},
            },
            {"adapter", "auth", "base_url"},
        ),
        ({"adapter": "simulator", "base_url": ATTACKER}, {"base_url"}),
        (
            {**before, "callback_secret_env": "LIAISON_PRACTICE_SECRET_OTHER"},
            {"callback_secret_env"},
        ),
    ]:
        change = {k: v for k, v in change.items() if k not in ("ods_code", "source")}
        response = api.put("/ops/practices/Y00001", json=change, headers=ops)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert {e["field"] for e in problem["errors"]} == fields
        assert "practice-admin" in problem["detail"]
        assert "liaison practices set" in problem["detail"]
    # Nor add a practice of its own.
    created = api.put(
        "/ops/practices/A81009", json={"adapter": "fhir", "base_url": ATTACKER}, headers=ops
    )
    assert created.status_code == 403
    assert api.get("/ops/practices/A81009").status_code == 404
    assert _entry(api, "Y00001") == before


def test_an_ops_client_still_tunes_the_operational_fields(
    api: TestClient, settings: Settings
) -> None:
    current = {k: v for k, v in _entry(api, "Y00001").items() if k not in ("ods_code", "source")}
    tuned = {
        **current,
        "rate_limit_per_minute": 30,
        "max_in_flight": 2,
        "chase_after_days": 5,
        "timeout_seconds": 20,
    }

    response = api.put("/ops/practices/Y00001", json=tuned, headers=_bearer(settings, "ops"))

    assert response.status_code == 200, response.text
    got = _entry(api, "Y00001")
    assert (got["rate_limit_per_minute"], got["max_in_flight"], got["chase_after_days"]) == (
        30,
        2,
        5,
    )
    assert got["base_url"] == current["base_url"]


def test_a_practice_admin_client_changes_the_connection(
    api: TestClient, settings: Settings
) -> None:
    entry = {
        "adapter": "fhir",
        "base_url": "https://gp.example/fhir",
        "auth": {"type": "bearer", "token_env": "LIAISON_PRACTICE_SECRET_Y00001_TOKEN"},
    }
    response = api.put("/ops/practices/Y00001", json=entry, headers=_admin(settings))
    assert response.status_code == 200, response.text
    assert _entry(api, "Y00001")["auth"]["token_env"] == "LIAISON_PRACTICE_SECRET_Y00001_TOKEN"


def test_no_client_holds_practice_admin_unless_registered_with_it_by_name(
    api: TestClient, settings: Settings
) -> None:
    jwks = {"keys": [keys.public_jwk(keys.generate_private_key_pem("EC"))]}
    now = datetime.now(UTC)
    with _uow(api) as uow:
        ops = registry.register_client(
            uow, client_id="ops-tool", kind="ops", organisation_ods="RX3", jwks=jwks, now=now
        )
        admin = registry.register_client(
            uow,
            client_id="directory-admin",
            kind="ops",
            organisation_ods="RX3",
            jwks=jwks,
            scopes="ops practice-admin",
            now=now,
        )
        with pytest.raises(registry.ClientRegistryError, match="may hold only"):
            registry.register_client(
                uow,
                client_id="case-app",
                kind="case-management",
                organisation_ods="RX3",
                jwks=jwks,
                scopes="recommendations practice-admin",
                now=now,
            )
        registry.seed_demo_client(uow, settings, now=now)
        demo = uow.clients.get(settings.development.demo_client_id)
        assert demo is not None
        assert PRACTICE_ADMIN_SCOPE not in demo.scopes.split()
        assert ops.scopes.split() == ["ops"]
        assert admin.scopes.split() == ["ops", "practice-admin"]
        uow.commit()
    assert PRACTICE_ADMIN_SCOPE not in ALL_SCOPES  # what `issue_token` grants by default

    # The registry wins over the token: an ops client's token naming practice-admin is
    # still refused a connection change.
    forged = issue_token(
        settings,
        client_id="ops-tool",
        organisation_ods="RX3",
        scopes=("ops", PRACTICE_ADMIN_SCOPE),
        kind="ops",
    )
    change = {"adapter": "fhir", "base_url": "https://gp.example/fhir"}
    refused = api.put(
        "/ops/practices/Y00001", json=change, headers={"Authorization": f"Bearer {forged}"}
    )
    assert refused.status_code == 403


@pytest.fixture
def production_api(tmp_path: Path) -> Any:
    settings = Settings(
        **PROD,
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/prod.db"),
        broker=BrokerSettings(url="memory://"),
        delivery=DeliverySettings(gp_allowed_hosts=["gp.example.nhs.uk", "*.gpsystem.example"]),
    )
    upgrade(settings.database.url)
    now = datetime.now(UTC)
    app = create_app(settings)
    with TestClient(app) as client:
        with UnitOfWork(app.state.session_factory) as uow:
            registry.register_client(
                uow,
                client_id="directory-admin",
                kind="ops",
                organisation_ods="RX3",
                jwks={"keys": [keys.public_jwk(keys.generate_private_key_pem("EC"))]},
                scopes="ops practice-admin",
                now=now,
            )
            uow.commit()
        token = issue_token(
            settings,
            client_id="directory-admin",
            organisation_ods="RX3",
            scopes=("ops", PRACTICE_ADMIN_SCOPE),
            kind="ops",
        )
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
    app.state.engine.dispose()


@pytest.mark.parametrize(
    ("entry", "field", "why"),
    [
        ({"base_url": "http://gp.example.nhs.uk/fhir"}, "base_url", "https"),
        (
            {"base_url": "https://attacker.example/fhir"},
            "base_url",
            "LIAISON_DELIVERY__GP_ALLOWED_HOSTS",
        ),
        (
            {"base_url": "https://gpsystem.example/fhir"},
            "base_url",
            "LIAISON_DELIVERY__GP_ALLOWED_HOSTS",
        ),
        ({"base_url": "https://user:pw@gp.example.nhs.uk/fhir"}, "base_url", "password"),
        (
            {
                "base_url": "https://gp.example.nhs.uk/fhir",
                "auth": {
                    "type": "smart-backend",
                    "token_url": "http://gp.example.nhs.uk/token",
                    "client_id": "liaison",
                    "private_key_env": "LIAISON_PRACTICE_SECRET_KEY",
                },
            },
            "auth.token_url",
            "https",
        ),
        ({"adapter": "simulator", "base_url": None}, "base_url", "https"),
    ],
)
def test_production_endpoints_must_be_https_on_the_allowed_hosts(
    production_api: TestClient, entry: dict[str, Any], field: str, why: str
) -> None:
    response = production_api.put("/ops/practices/A81001", json={"adapter": "fhir", **entry})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert why in error["detail"]
    assert production_api.get("/ops/practices/A81001").status_code == 404


def test_production_accepts_an_https_endpoint_on_an_allowed_host(
    production_api: TestClient,
) -> None:
    for ods, url in [
        ("A81001", "https://gp.example.nhs.uk/fhir"),
        ("A81002", "https://a.gpsystem.example/r4"),
    ]:
        response = production_api.put(
            f"/ops/practices/{ods}", json={"adapter": "fhir", "base_url": url}
        )
        assert response.status_code == 201, response.text


def test_a_yaml_file_naming_another_variable_or_a_plain_http_endpoint_is_refused(
    tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "practices.yaml"
    for name in ("password_env", "token_env"):
        user = {"username": "reception", "password_env": "LIAISON_SECURITY__SECRET_KEY"}
        entry: dict[str, Any] = (
            {"ods_code": "A81003", "adapter": "inbox", "inbox_users": [user]}
            if name == "password_env"
            else {
                "ods_code": "A81001",
                "adapter": "fhir",
                "base_url": "https://gp.example/fhir",
                "auth": {"type": "bearer", "token_env": "LIAISON_DATABASE__URL"},
            }
        )
        path.write_text(yaml.safe_dump({"practices": [entry]}))
        with pytest.raises(ValueError, match=name):
            load_directory(path)

    path.write_text(
        yaml.safe_dump(
            {
                "practices": [
                    {"ods_code": "A81004", "adapter": "inbox"},
                    {"ods_code": "A81001", "adapter": "fhir", "base_url": "http://gp.example/f"},
                ]
            }
        )
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    production = Settings(**PROD)
    with (
        UnitOfWork(make_session_factory(engine)) as uow,
        pytest.raises(PracticeEntryRefused, match="base_url must be https"),
    ):
        seed(uow, load_directory(path), settings=production)
    with UnitOfWork(make_session_factory(engine)) as uow:
        assert uow.practices.list() == []  # the whole file refused: nothing written
    engine.dispose()


def test_the_practices_command_refuses_another_variable_and_a_host_not_allowed(
    api: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIAISON_DATABASE__URL", settings.database.url)
    monkeypatch.setenv("LIAISON_DELIVERY__GP_ALLOWED_HOSTS", '["gp.example.nhs.uk"]')
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        stolen = runner.invoke(
            cli,
            ["practices", "set", "Y00001", "--adapter", "fhir", "--base-url",
             "https://gp.example.nhs.uk/fhir", "--token-env", "LIAISON_SECURITY__SECRET_KEY"],
        )  # fmt: skip
        assert stolen.exit_code == 2
        assert "token_env" in stolen.output
        elsewhere = runner.invoke(
            cli, ["practices", "set", "Y00001", "--adapter", "fhir", "--base-url", ATTACKER]
        )
        assert elsewhere.exit_code == 2
        assert "LIAISON_DELIVERY__GP_ALLOWED_HOSTS" in elsewhere.output
        fine = runner.invoke(
            cli,
            ["practices", "set", "Y00001", "--adapter", "fhir", "--base-url",
             "https://gp.example.nhs.uk/fhir", "--token-env", "LIAISON_PRACTICE_SECRET_Y1"],
        )  # fmt: skip
        assert fine.exit_code == 0, fine.output
    finally:
        get_settings.cache_clear()
    assert _entry(api, "Y00001")["base_url"] == "https://gp.example.nhs.uk/fhir"


def _endpoint(config: dict[str, Any], base_url: str = "https://gp.example/fhir") -> Any:
    practice = Practice(ods_code="A81001", adapter="fhir", base_url=base_url, config=config)
    return PracticeEndpoint.of(practice)


def test_the_workers_never_read_a_variable_outside_the_namespace_whatever_the_row_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A row written around the directory's checks (by hand, or before the namespace).
    settings = Settings(security=SecuritySettings(secret_key="k" * 48))
    monkeypatch.setenv("LIAISON_SECURITY__SECRET_KEY", settings.security.secret_key)
    build = gp_system_factory(settings, lambda: None)

    system = build(
        _endpoint({"auth": {"type": "bearer", "token_env": "LIAISON_SECURITY__SECRET_KEY"}})
    )

    assert isinstance(system, Unavailable)
    assert "outside LIAISON_PRACTICE_SECRET_" in system.reason
    assert settings.security.secret_key not in system.reason
    assert settings.practice_secret("LIAISON_SECURITY__SECRET_KEY") is None


def test_the_workers_refuse_an_endpoint_production_would_not_accept() -> None:
    settings = Settings(**PROD, delivery=DeliverySettings(gp_allowed_hosts=["gp.example.nhs.uk"]))
    build = gp_system_factory(settings, lambda: None)
    for url in (ATTACKER, "https://attacker.example/fhir"):
        system = build(_endpoint({}, base_url=url))
        assert isinstance(system, Unavailable)
        assert "base_url" in system.reason
    assert not isinstance(build(_endpoint({}, "https://gp.example.nhs.uk/fhir")), Unavailable)


def test_an_entry_stored_before_the_namespace_is_still_listed_but_never_read(
    api: TestClient,
) -> None:
    with _uow(api) as uow:
        practice = uow.practices.get("Y00002")
        assert practice is not None
        practice.adapter = "fhir"
        practice.base_url = "https://gp.example/fhir"
        practice.config = {"auth": {"type": "bearer", "token_env": "A81001_TOKEN"}}
        uow.commit()
    listed = api.get("/ops/practices")
    assert listed.status_code == 200
    got = _entry(api, "Y00002")
    assert got["auth"]["token_env"] == "A81001_TOKEN"  # visible, so it can be fixed
    # Sending it back as it is (to change an operational field) is refused naming the field.
    got.update(rate_limit_per_minute=10)
    again = api.put(
        "/ops/practices/Y00002",
        json={k: v for k, v in got.items() if k not in ("ods_code", "source")},
    )
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "auth.bearer.token_env"


def test_no_setting_of_liaison_lies_in_the_practice_secret_namespace() -> None:
    assert [n for n in Settings.model_fields if n.startswith("practice_secret")] == []


def test_upgrading_moves_stored_references_into_the_namespace(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    upgrade(url, "0004_practices")
    engine = make_engine(url)
    old = {
        "auth": {"type": "bearer", "token_env": "A81001_TOKEN"},
        "callback_secret_env": "LIAISON_SECRET_KEY",
        "source": "api",
    }
    practices = sa.table(
        "practices",
        *(
            sa.column(c)
            for c in ("ods_code", "adapter", "base_url", "chase_after_days", "breaker_state")
        ),
        sa.column("breaker_failures"),
        sa.column("config", sa.JSON()),
        sa.column("created_at", sa.DateTime()),
        sa.column("updated_at", sa.DateTime()),
    )
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            practices.insert().values(
                ods_code="A81001",
                adapter="fhir",
                base_url="https://gp.example/fhir",
                chase_after_days=3,
                breaker_state="closed",
                breaker_failures=0,
                config=old,
                created_at=now,
                updated_at=now,
            )
        )
    upgrade(url)
    with engine.connect() as connection:
        config = connection.execute(sa.select(practices.c.config)).scalar_one()
    engine.dispose()
    assert config["auth"]["token_env"] == "LIAISON_PRACTICE_SECRET_A81001_TOKEN"
    assert config["callback_secret_env"] == "LIAISON_PRACTICE_SECRET_LIAISON_SECRET_KEY"
    assert config["source"] == "api"


def test_migrate_refuses_a_directory_pointing_at_a_host_not_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "practices.yaml"
    path.write_text(
        yaml.safe_dump(
            {"practices": [{"ods_code": "A81001", "adapter": "fhir", "base_url": ATTACKER}]}
        )
    )
    monkeypatch.setenv("LIAISON_DATABASE__URL", f"sqlite:///{tmp_path}/m.db")
    monkeypatch.setenv("LIAISON_BROKER__URL", "memory://")
    monkeypatch.setenv("LIAISON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIAISON_DELIVERY__PRACTICE_DIRECTORY", str(path))
    monkeypatch.setenv("LIAISON_DELIVERY__GP_ALLOWED_HOSTS", '["gp.example.nhs.uk"]')
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(cli, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert refused.exit_code == 2
    assert (
        "A81001: base_url host attacker.example is not in LIAISON_DELIVERY__GP_ALLOWED_HOSTS"
        in (refused.output)
    )
