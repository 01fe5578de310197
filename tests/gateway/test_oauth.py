"""POST /oauth2/token: client credentials with a signed JWT client assertion
(private_key_jwt, RS256/ES256), as a client system would use it."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.api.oauth import JWT_BEARER
from gateway.cli import app as cli
from gateway.security import clients as registry
from gateway.security import keys
from gateway.settings import Settings, get_settings
from gateway.store.unit_of_work import UnitOfWork


class ClientSystem:
    """A calling system: its key pair(s), registered with Liaison, and what it sends."""

    def __init__(self, api: TestClient, settings: Settings, client_id: str, **register: Any):
        self.api = api
        self.settings = settings
        self.client_id = client_id
        self.pem = keys.generate_private_key_pem(register.pop("key_type", "EC"))
        self.kid = keys.public_jwk(self.pem)["kid"]
        with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
            registry.register_client(
                uow,
                client_id=client_id,
                jwks={"keys": [keys.public_jwk(self.pem)]},
                now=datetime.now(UTC),
                **{"kind": "case-management", "organisation_ods": "RX3", **register},
            )
            uow.commit()

    def assertion(self, **changes: Any) -> str:
        pem = changes.pop("pem", self.pem)
        return keys.client_assertion(
            pem,
            client_id=changes.pop("client_id", self.client_id),
            audience=changes.pop("audience", self.settings.api.token_endpoint_url),
            kid=changes.pop("kid", self.kid),
            **changes,
        )

    def request_token(self, assertion: str | None = None, **form: str) -> Any:
        data = {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion or self.assertion(),
            **form,
        }
        return self.api.post("/oauth2/token", data=data, headers={"Authorization": ""})


@pytest.fixture
def system(api: TestClient, settings: Settings) -> ClientSystem:
    return ClientSystem(api, settings, "case-app")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("key_type", ["EC", "RSA"])
def test_signed_assertion_gets_a_short_lived_token_that_works(
    api: TestClient, settings: Settings, key_type: str
) -> None:
    system = ClientSystem(api, settings, f"app-{key_type.lower()}", key_type=key_type)

    response = system.request_token()

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.security.access_token_ttl_seconds <= 600
    assert body["scope"] == "fhir recommendations"
    assert response.headers["Cache-Control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == settings.security.access_token_ttl_seconds
    assert api.get("/v1/recommendations", headers=_bearer(body["access_token"])).status_code == 200
    # The scopes are those registered: not ops.
    assert api.get("/ops/queues", headers=_bearer(body["access_token"])).status_code == 403


def test_a_replayed_assertion_is_refused(system: ClientSystem) -> None:
    assertion = system.assertion()
    assert system.request_token(assertion).status_code == 200

    replay = system.request_token(assertion)

    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
    assert "jti has already been used" in replay.json()["error_description"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"now_offset": -600}, "exp has passed"),
        ({"lifetime_seconds": 3600}, "more than 5 minutes"),
        ({"now_offset": 300}, "in the future"),
        ({"audience": "https://elsewhere.example/token"}, "aud must be"),
        ({"kid": "no-such-key"}, "kid 'no-such-key' is not in the JWKS"),
        ({"client_id": "nobody"}, "not a registered client"),
    ],
)
def test_bad_assertions_are_refused_naming_the_claim(
    system: ClientSystem, changes: dict[str, Any], words: str
) -> None:
    # Clock offsets are applied when the test runs, not when the module is collected.
    changes = dict(changes)
    if "now_offset" in changes:
        changes["now"] = time.time() + changes.pop("now_offset")
    response = system.request_token(system.assertion(**changes))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert words in response.json()["error_description"]


def test_an_assertion_signed_by_another_key_under_a_registered_kid_is_refused(
    system: ClientSystem,
) -> None:
    impostor = keys.generate_private_key_pem("EC")

    response = system.request_token(system.assertion(pem=impostor))

    assert response.status_code == 401
    assert "signature does not verify" in response.json()["error_description"]


def test_symmetric_and_unsigned_assertions_are_refused(system: ClientSystem) -> None:
    claims = {
        "iss": system.client_id,
        "sub": system.client_id,
        "aud": system.settings.api.token_endpoint_url,
        "jti": str(uuid.uuid4()),
        "exp": int(time.time()) + 60,
    }
    # The classic confusion: the public key used as an HMAC secret.
    # PyJWT itself refuses to sign that way, so the attacker's token is built by hand.
    public = json.dumps(keys.public_jwk(system.pem)).encode()
    hmac_signed = _hand_signed_hs256(claims, public, kid=system.kid)
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": system.kid})

    for assertion in (hmac_signed, unsigned):
        response = system.request_token(assertion)
        assert response.status_code == 401
        assert "is not accepted" in response.json()["error_description"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_signed_hs256(claims: dict[str, Any], secret: bytes, *, kid: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def test_a_client_key_added_by_kid_is_accepted_and_one_dropped_is_refused(
    api: TestClient, system: ClientSystem
) -> None:
    new_pem = keys.generate_private_key_pem("EC")
    new_jwk = keys.public_jwk(new_pem)
    old_jwk = keys.public_jwk(system.pem)

    def register(*jwks: dict[str, Any]) -> None:
        with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
            registry.replace_keys(
                uow, client_id=system.client_id, jwks={"keys": list(jwks)}, now=datetime.now(UTC)
            )
            uow.commit()

    register(old_jwk, new_jwk)
    assert system.request_token().status_code == 200
    assert (
        system.request_token(system.assertion(pem=new_pem, kid=new_jwk["kid"])).status_code == 200
    )

    register(new_jwk)
    assert system.request_token().status_code == 401
    assert (
        system.request_token(system.assertion(pem=new_pem, kid=new_jwk["kid"])).status_code == 200
    )


def test_revoked_client_gets_no_token_and_its_tokens_stop_at_once(
    api: TestClient, system: ClientSystem
) -> None:
    token = system.request_token().json()["access_token"]
    assert api.get("/v1/recommendations", headers=_bearer(token)).status_code == 200

    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        registry.revoke_client(uow, client_id=system.client_id, now=datetime.now(UTC))
        uow.commit()

    assert api.get("/v1/recommendations", headers=_bearer(token)).status_code == 401
    refused = system.request_token()
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error_description"]


def test_scopes_can_be_narrowed_not_widened(system: ClientSystem) -> None:
    narrowed = system.request_token(scope="fhir")
    assert narrowed.json()["scope"] == "fhir"

    widened = system.request_token(scope="fhir ops")
    assert widened.status_code == 400
    assert widened.json()["error"] == "invalid_scope"
    assert "ops" in widened.json()["error_description"]


def test_a_gp_practice_client_acts_for_its_practice(api: TestClient, settings: Settings) -> None:
    practice = ClientSystem(
        api, settings, "gp-y00001", kind="gp-practice", organisation_ods="Y00001"
    )

    body = practice.request_token().json()

    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["kind"], claims["org"], claims["practice"]) == (
        "gp-practice",
        "Y00001",
        "Y00001",
    )
    assert body["scope"] == "fhir gp-practice"
    assert api.get("/v1/recommendations", headers=_bearer(body["access_token"])).status_code == 403


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"grant_type": "password"}, "grant_type"),
        ({"grant_type": ""}, "grant_type"),
        ({"client_assertion_type": "urn:other"}, "client_assertion_type"),
        ({"client_assertion": "not-a-jwt"}, "client_assertion"),
    ],
)
def test_malformed_requests_name_the_parameter(
    system: ClientSystem, form: dict[str, str], field: str
) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": system.assertion(),
        **form,
    }
    response = system.api.post("/oauth2/token", data=data)

    assert response.status_code == 400
    assert response.json()["error_description"].startswith(field)


def test_registration_refuses_private_keys_and_weak_ones() -> None:
    pem = keys.generate_private_key_pem("EC")
    public = keys.public_jwk(pem)
    private = {**public, "d": "c2VjcmV0"}
    with pytest.raises(registry.ClientRegistryError, match="private key"):
        registry.validate_jwks({"keys": [private]})
    with pytest.raises(registry.ClientRegistryError, match="kid"):
        registry.validate_jwks({"keys": [{k: v for k, v in public.items() if k != "kid"}]})
    with pytest.raises(registry.ClientRegistryError, match="non-empty"):
        registry.validate_jwks({"keys": []})
    with pytest.raises(registry.ClientRegistryError, match="alg"):
        registry.validate_jwks({"keys": [{**public, "alg": "HS256"}]})
    assert registry.validate_jwks({"keys": [public]}) == {"keys": [public]}


def test_the_clients_cli_registers_lists_and_revokes_and_refuses_ops_scopes_to_an_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("LIAISON_DATABASE__URL", settings.database.url)
    monkeypatch.setenv("LIAISON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIAISON_BROKER__URL", f"sqla+sqlite:///{tmp_path}/broker.db")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(cli, ["migrate"]).exit_code == 0
        key = tmp_path / "client.pem"
        made = runner.invoke(cli, ["clients", "keygen", "--out", str(key)])
        assert made.exit_code == 0
        jwks_file = tmp_path / "jwks.json"
        jwks_file.write_text(made.stdout)

        added = runner.invoke(
            cli,
            [
                "clients",
                "add",
                "trust-app",
                "--kind",
                "case-management",
                "--ods",
                "rx4",
                "--jwks",
                str(jwks_file),
            ],
        )
        assert added.exit_code == 0, added.output
        assert "registered trust-app (case-management, RX4" in added.stdout
        refused = runner.invoke(
            cli,
            [
                "clients",
                "add",
                "ops-app",
                "--kind",
                "ops",
                "--ods",
                "RX4",
                "--jwks",
                str(jwks_file),
                "--scopes",
                "ops recommendations",
            ],
        )
        assert refused.exit_code == 2
        assert "may hold only" in refused.output

        signed = runner.invoke(
            cli, ["clients", "assertion", "trust-app", "--private-key", str(key)]
        )
        claims = jwt.decode(signed.stdout.strip(), options={"verify_signature": False})
        assert (claims["iss"], claims["aud"]) == ("trust-app", settings.api.token_endpoint_url)

        listed = runner.invoke(cli, ["clients", "list"]).stdout
        assert "trust-app" in listed
        assert "active" in listed
        assert "demo-app" in listed  # development seeds the demo client at migrate

        assert runner.invoke(cli, ["clients", "revoke", "trust-app"]).exit_code == 0
        assert "revoked" in runner.invoke(cli, ["clients", "list"]).stdout
        assert runner.invoke(cli, ["token", "--client", "trust-app"]).exit_code == 2

        demo = runner.invoke(cli, ["token", "--client", "demo-app"])
        assert demo.exit_code == 0
        claims = jwt.decode(demo.stdout.strip(), options={"verify_signature": False})
        assert (claims["sub"], claims["org"]) == ("demo-app", "RX3")
    finally:
        get_settings.cache_clear()


def test_demo_client_can_use_the_real_flow(api: TestClient, settings: Settings) -> None:
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        assert registry.seed_demo_client(uow, settings, now=datetime.now(UTC))
        uow.commit()
    pem, jwk = registry.demo_key(settings)
    assertion = keys.client_assertion(
        pem, client_id="demo-app", audience=settings.api.token_endpoint_url, kid=jwk["kid"]
    )

    response = api.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        },
    )

    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == {"recommendations", "fhir", "ops"}
    assert (Path(settings.data_dir) / registry.DEMO_KEY_FILE).stat().st_mode & 0o077 == 0
