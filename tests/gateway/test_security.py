"""Who may call what: every route of the app is either on the explicit public list or
refuses a caller without valid credentials; plus the hardening every response gets."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from starlette.routing import Mount

from gateway.api.auth import needs_bearer_token, required_scopes
from gateway.api.middleware.rate_limits import TokenBucketLimiter
from gateway.api.middleware.routes import PUBLIC_ROUTES, is_public
from gateway.security import clients as registry
from gateway.security import keys
from gateway.security.tokens import ALL_SCOPES, issue_token, key_id
from gateway.settings import (
    DEV_CALLBACK_SECRET,
    DEV_SECRET_KEY,
    ApiSettings,
    BrokerSettings,
    DatabaseSettings,
    FhirSettings,
    NotifySettings,
    PdsSettings,
    SecuritySettings,
    Settings,
)
from gateway.settings.root import _SECRET_NAME as SECRET_NAME
from gateway.store.unit_of_work import UnitOfWork

# The only routes anyone may call without credentials. A new route that is not here must
# refuse callers without a valid token (or, for the practice inbox, without a session).
EXPECTED_PUBLIC = {
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/fhir/metadata", "GET"),
    ("/oauth2/token", "POST"),
    ("/inbox/login", "GET"),
    ("/inbox/login", "POST"),
    ("/console/login", "GET"),
    ("/console/login", "POST"),
    ("/console/login", "GET"),
    ("/console/login", "POST"),
    ("/openapi.json", "GET"),
    ("/openapi.json", "HEAD"),
    ("/docs", "GET"),
    ("/docs", "HEAD"),
    ("/docs/oauth2-redirect", "GET"),
    ("/docs/oauth2-redirect", "HEAD"),
    ("/redoc", "GET"),
    ("/redoc", "HEAD"),
}
# Mounted static files (style sheets, scripts): public, and nothing else may be mounted.
EXPECTED_STATIC_MOUNTS = {"/console/static", "/inbox/static", "/docs/assets"}
EVERY_SCOPE = (*ALL_SCOPES, "gp-practice")
PARAMETER_VALUES = {
    "ods_code": "Y00001",
    "ods": "Y00001",
    "resource_type": "Task",
    "practitioner_id": "mhscp-001",
}


def _uow(api: TestClient) -> UnitOfWork:
    return UnitOfWork(api.app.state.session_factory)  # type: ignore[attr-defined]


def _register(
    api: TestClient,
    client_id: str,
    *,
    kind: str = "case-management",
    ods: str = "RX3",
    scopes: str | None = None,
) -> bytes:
    pem = keys.generate_private_key_pem("EC")
    with _uow(api) as uow:
        registry.register_client(
            uow,
            client_id=client_id,
            kind=kind,
            organisation_ods=ods,
            jwks={"keys": [keys.public_jwk(pem)]},
            scopes=scopes,
            now=datetime.now(UTC),
        )
        uow.commit()
    return pem


def _revoke(api: TestClient, client_id: str) -> None:
    with _uow(api) as uow:
        registry.revoke_client(uow, client_id=client_id, now=datetime.now(UTC))
        uow.commit()


def _routes(api: TestClient) -> Iterator[tuple[str, str, Any]]:
    for context in iter_route_contexts(api.app.routes):  # type: ignore[attr-defined]
        path = context.path
        for method in sorted(context.methods or ()):
            yield path, method, context.original_route


def _concrete(path: str) -> str:
    for name in [p.split("}")[0].split(":")[0] for p in path.split("{")[1:]]:
        value = PARAMETER_VALUES.get(name, "00000000-0000-0000-0000-000000000000")
        path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
    return path


def _call(api: TestClient, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {"Authorization": ""}
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if method in ("POST", "PUT", "PATCH"):
        if path.startswith(("/inbox", "/console")):
            kwargs["data"] = {"x": "1"}
        else:
            kwargs["json"] = {}
    return api.request(method, _concrete(path), **kwargs)


def _refused(response: Any) -> bool:
    if response.status_code in (401, 403):
        return True
    # A browser page may send the visitor to its sign-in page instead.
    location = response.headers.get("location", "")
    return response.status_code in (302, 303, 307) and "login" in location


def _says_why(response: Any) -> bool:
    body = response.json()
    if body.get("resourceType") == "OperationOutcome":
        return bool(body["issue"][0].get("diagnostics"))
    return bool(body.get("detail"))


@pytest.fixture
def credentials(api: TestClient, settings: Settings) -> dict[str, str]:
    _register(api, "revoked-app", scopes="recommendations fhir")
    _revoke(api, "revoked-app")
    other_key = settings.model_copy(
        update={
            "security": settings.security.model_copy(
                update={"secret_key": "another-key-" + "x" * 40}
            )
        }
    )
    now = int(datetime.now(UTC).timestamp())
    unsigned = jwt.encode(
        {
            "iss": "liaison",
            "aud": "liaison-api",
            "sub": "demo-app",
            "org": "RX3",
            "scope": " ".join(EVERY_SCOPE),
            "iat": now,
            "exp": now + 600,
        },
        key=None,
        algorithm="none",
        headers={"kid": key_id(settings.security.secret_key)},
    )
    return {
        "expired": issue_token(settings, client_id="demo-app", organisation_ods="RX3", ttl=-30),
        "unknown key": issue_token(other_key, client_id="demo-app", organisation_ods="RX3"),
        "unsigned": unsigned,
        "revoked client": issue_token(
            settings, client_id="revoked-app", organisation_ods="RX3", scopes=EVERY_SCOPE
        ),
    }


def test_public_list_is_the_explicit_one() -> None:
    listed = {(path, method) for path, methods in PUBLIC_ROUTES.items() for method in methods}
    assert listed <= EXPECTED_PUBLIC


def test_only_static_files_are_mounted(api: TestClient) -> None:
    for context in iter_route_contexts(api.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if isinstance(route, Mount):
            assert route.path in EXPECTED_STATIC_MOUNTS, route.path
            assert isinstance(route.app, StaticFiles), route.path


def test_every_route_is_public_or_refuses_bad_credentials(
    api: TestClient, settings: Settings, credentials: dict[str, str]
) -> None:
    failures: list[str] = []
    checked = 0
    for path, method, route in _routes(api):
        if is_public(path, method):
            assert (path, method) in EXPECTED_PUBLIC
            response = _call(api, method, path, None)
            if response.status_code == 401:
                failures.append(f"{method} {path}: public but asks for a token")
            continue
        checked += 1
        for name, token in [("no token", None), *credentials.items()]:
            response = _call(api, method, path, token)
            if response.status_code != 401 and not _refused(response):
                failures.append(f"{method} {path}: {name} -> {response.status_code}")
            elif response.status_code == 401 and not _says_why(response):
                failures.append(f"{method} {path}: {name} -> 401 without saying why")
        needed = required_scopes(route) if hasattr(route, "dependant") else set()
        lacking = tuple(s for s in EVERY_SCOPE if s not in needed)
        response = _call(
            api,
            method,
            path,
            issue_token(settings, client_id="demo-app", organisation_ods="RX3", scopes=lacking),
        )
        bearer = hasattr(route, "dependant") and needs_bearer_token(route)
        if bearer and not needed:
            failures.append(f"{method} {path}: takes a bearer token but demands no scope")
        elif needed and response.status_code != 403:
            failures.append(
                f"{method} {path}: token without {sorted(needed)} -> {response.status_code}"
            )
        elif not needed and not _refused(response):
            failures.append(f"{method} {path}: a bearer token alone let it in")
    assert checked >= 10
    assert failures == [], "\n".join(failures)


def test_a_valid_token_is_accepted(api: TestClient) -> None:
    assert api.get("/v1/recommendations").status_code == 200
    assert api.get("/ops/queues").status_code == 200


def test_revocation_takes_effect_on_the_next_request(api: TestClient, settings: Settings) -> None:
    _register(api, "case-app", ods="RX3")
    token = issue_token(settings, client_id="case-app", organisation_ods="RX3")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/v1/recommendations", headers=headers).status_code == 200

    _revoke(api, "case-app")

    refused = api.get("/v1/recommendations", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


def test_registered_scopes_and_tenant_win_over_the_token(
    api: TestClient, settings: Settings
) -> None:
    _register(api, "case-app", ods="RX3", scopes="recommendations fhir")
    # A token naming more scopes than registered (say, minted before a scope was withdrawn).
    token = issue_token(settings, client_id="case-app", organisation_ods="RX3", scopes=EVERY_SCOPE)
    headers = {"Authorization": f"Bearer {token}"}

    assert api.get("/v1/recommendations", headers=headers).status_code == 200
    assert api.get("/ops/queues", headers=headers).status_code == 403
    elsewhere = issue_token(settings, client_id="case-app", organisation_ods="RXX")
    assert (
        api.get("/v1/recommendations", headers={"Authorization": f"Bearer {elsewhere}"}).status_code
        == 401
    )


def test_production_refuses_tokens_of_unregistered_clients(tmp_path: Any) -> None:
    from gateway.api.app import create_app
    from gateway.store.migrate import upgrade

    settings = Settings(
        environment="production",
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/p.db"),
        broker=BrokerSettings(url="memory://"),
        security=SecuritySettings(secret_key="s" * 48),
        notify=NotifySettings(api_key="live-" + "n" * 40),
        api=ApiSettings(public_base_url="https://liaison.example.nhs.uk"),
        fhir=FhirSettings(canonical_base="https://liaison.example.nhs.uk/fhir"),
        pds=PdsSettings(mode="off"),
    )
    upgrade(settings.database.url)
    token = issue_token(settings, client_id="nobody", organisation_ods="RX3")
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/recommendations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "not registered" in response.json()["detail"]


def test_a_token_under_a_retired_secret_key_is_accepted_only_while_that_key_is_listed(
    api: TestClient, settings: Settings
) -> None:
    old = settings.model_copy(
        update={
            "security": settings.security.model_copy(update={"secret_key": "old-key-" + "o" * 40})
        }
    )
    token = issue_token(old, client_id="demo-app", organisation_ods="RX3")
    headers = {"Authorization": f"Bearer {token}"}
    refused = api.get("/v1/recommendations", headers=headers)
    assert refused.status_code == 401
    assert "unknown key" in refused.json()["detail"]

    api.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={
            "security": settings.security.model_copy(
                update={"previous_secret_keys": [old.security.secret_key]}
            )
        }
    )
    assert api.get("/v1/recommendations", headers=headers).status_code == 200


def test_security_headers_on_api_responses_and_pages(api: TestClient) -> None:
    response = api.get("/v1/recommendations")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]

    page = api.get("/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "no-store" not in page.headers.get("Cache-Control", "")


def test_no_cors_by_default(api: TestClient) -> None:
    preflight = api.options(
        "/v1/recommendations",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    response = api.get("/v1/recommendations", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_bodies_must_be_declared_as_what_the_route_reads(api: TestClient) -> None:
    response = api.post(
        "/v1/recommendations", content=b"<xml/>", headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 415
    assert "Content-Type" in response.json()["detail"]
    fhir = api.post(
        "/fhir/MedicationRequest",
        content=b"a=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert fhir.status_code == 415
    assert fhir.json()["resourceType"] == "OperationOutcome"
    token = api.post("/oauth2/token", json={"grant_type": "client_credentials"})
    assert token.status_code == 415


def test_rate_limit_per_client_answers_429_with_retry_after(
    api: TestClient, settings: Settings
) -> None:
    api.app.state.client_rate_limiter = TokenBucketLimiter(3)  # type: ignore[attr-defined]
    other = issue_token(settings, client_id="other-app", organisation_ods="RXX")

    codes = [api.get("/v1/recommendations").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    limited = api.get("/v1/recommendations")
    assert int(limited.headers["Retry-After"]) >= 1
    assert "rate limit" in limited.json()["detail"]
    # Another client has its own budget.
    assert (
        api.get("/v1/recommendations", headers={"Authorization": f"Bearer {other}"}).status_code
        == 200
    )


def test_token_bucket_refills_with_time() -> None:
    limiter = TokenBucketLimiter(60)
    for _ in range(60):
        limiter.check("a", now=0.0)
    with pytest.raises(Exception, match="rate limit"):
        limiter.check("a", now=0.0)
    limiter.check("a", now=1.0)  # one token a second


def test_production_refuses_every_dev_default_secret() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(environment="production")
    assert "LIAISON_SECURITY__SECRET_KEY" in str(refused.value)
    assert "LIAISON_NOTIFY__API_KEY" in str(refused.value)

    with pytest.raises(ValidationError, match="LIAISON_NOTIFY__API_KEY"):
        Settings(environment="production", security=SecuritySettings(secret_key="p" * 48))
    with pytest.raises(ValidationError, match="LIAISON_SECURITY__PREVIOUS_SECRET_KEYS"):
        Settings(
            environment="production",
            security=SecuritySettings(secret_key="p" * 48, previous_secret_keys=[DEV_SECRET_KEY]),
            notify=NotifySettings(api_key="live-" + "n" * 40),
        )
    with pytest.raises(ValidationError, match="shorter than 32"):
        Settings(
            environment="production",
            security=SecuritySettings(secret_key="short"),
            notify=NotifySettings(api_key="live-" + "n" * 40),
        )
    with pytest.raises(ValidationError, match="dev secrets"):
        Settings(
            environment="production",
            security=SecuritySettings(secret_key="p" * 48),
            notify=NotifySettings(api_key="live-" + "n" * 40),
            api=ApiSettings(cors_allow_origins=[DEV_CALLBACK_SECRET]),
        )

    # Every secret-looking setting, in every group, given a real value: production starts.
    real: dict[str, Any] = {
        "api": ApiSettings(public_base_url="https://liaison.example.nhs.uk"),
        "fhir": FhirSettings(canonical_base="https://liaison.example.nhs.uk/fhir"),
        "pds": PdsSettings(mode="off"),
    }
    for group, group_spec in Settings.model_fields.items():
        model = group_spec.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        secrets = {
            name: f"production-{group}-{name}-" + "v" * 40
            for name, spec in model.model_fields.items()
            if SECRET_NAME.search(name) and isinstance(spec.default, str) and spec.default
        }
        if secrets:
            fields = real[group].model_dump(exclude_unset=True) if group in real else {}
            real[group] = model.model_validate({**fields, **secrets})
    assert {"security", "notify"} <= set(real)  # the secret key and the Notify API key
    fine = Settings(environment="production", **real)
    assert fine.environment == "production"


def test_development_keeps_its_defaults() -> None:
    assert Settings().security.secret_key == DEV_SECRET_KEY


def test_token_buckets_stay_bounded_under_a_flood_of_addresses() -> None:
    limiter = TokenBucketLimiter(1)
    for n in range(25_000):
        limiter.check(f"address-{n}", now=float(n) / 1000)
    assert len(limiter._buckets) <= 10_000
    # The most recent callers are still remembered, and still limited.
    with pytest.raises(Exception, match="rate limit"):
        limiter.check("address-24999", now=25.0)


def _production(**settings: Any) -> Settings:
    return Settings(
        environment="production",
        security=SecuritySettings(secret_key="s" * 48),
        notify=NotifySettings(api_key="live-" + "n" * 40),
        api=ApiSettings(public_base_url="https://liaison.example.nhs.uk"),
        fhir=FhirSettings(canonical_base="https://liaison.example.nhs.uk/fhir"),
        **settings,
    )


def test_production_refuses_pds_unconfigured_or_in_tokenless_sandbox_mode() -> None:
    with pytest.raises(ValueError, match="LIAISON_PDS__BASE_URL"):
        _production()
    # Only a base URL is the sandbox mode: no access token, refused in production.
    with pytest.raises(ValueError, match="LIAISON_PDS__TOKEN_URL"):
        _production(pds=PdsSettings(base_url="https://pds.example/personal-demographics/FHIR/R4"))


def test_production_starts_with_application_restricted_pds_or_pds_explicitly_off() -> None:
    onboarded = _production(
        pds=PdsSettings(
            base_url="https://pds.example/personal-demographics/FHIR/R4",
            token_url="https://auth.example/oauth2/token",
            api_key="live-api-key",
            private_key_path="/run/secrets/pds.pem",
            key_id="liaison-1",
        )
    )
    assert onboarded.pds.enabled
    assert not _production(pds=PdsSettings(mode="off")).pds.enabled
