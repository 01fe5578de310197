"""Tenants: organisation B cannot read, list, search, cancel or replay organisation A's
recommendations by any route; the ops scope sees ids, never patients; a GP practice acts only
for itself. Routes are enumerated from the app, so routes added later are covered too."""

import copy
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from fhir_profiles import systems
from fhir_profiles.task_status import task_fields_for
from gateway.api.middleware.routes import is_public
from gateway.cli import sample_recommendation
from gateway.domain import callback_signatures
from gateway.practice_directory import PracticeSettings, ensure_inbox_user, write_practice
from gateway.security import clients as registry
from gateway.security import keys
from gateway.security.passwords import hash_password
from gateway.security.tokens import issue_token
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import Settings
from gateway.store.unit_of_work import UnitOfWork

FHIR_TYPES = ("MedicationRequest", "CommunicationRequest", "Task", "DetectedIssue")
CASE_SCOPES = ("recommendations", "fhir")
INBOX_PASSWORD = "a long practice password"


@dataclass
class Tenant:
    ods: str
    token: str
    recommendation_id: str = ""
    resources: dict[str, str] = field(default_factory=dict)  # type -> id
    delivery_id: str = ""
    identifiers: tuple[str, ...] = ()  # what must never reach another tenant or ops

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _patient(nhs: str, given: str, family: str, mobile: str, email: str) -> dict[str, Any]:
    payload = copy.deepcopy(sample_recommendation("Y00001"))
    payload["service_user"]["nhs_number"] = nhs
    payload["service_user"]["name"] = {"given": given, "family": family}
    payload["service_user"]["contact"] = {"mobile": mobile, "email": email, "preferred": "sms"}
    return payload


def _tenant(api: TestClient, settings: Settings, ods: str, payload: dict[str, Any]) -> Tenant:
    tenant = Tenant(
        ods=ods,
        token=issue_token(
            settings, client_id=f"app-{ods}", organisation_ods=ods, scopes=CASE_SCOPES
        ),
    )
    accepted = api.post("/v1/recommendations", json=payload, headers=tenant.headers)
    assert accepted.status_code == 202, accepted.text
    tenant.recommendation_id = accepted.json()["id"]
    tenant.resources = {
        kind: url.rsplit("/", 1)[-1] for kind, url in accepted.json()["links"]["fhir"].items()
    }
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        tenant.delivery_id = uow.deliveries.for_recommendation(tenant.recommendation_id)[0].id
    user = payload["service_user"]
    tenant.identifiers = (
        user["nhs_number"],
        user["name"]["given"],
        user["name"]["family"],
        user["contact"]["mobile"],
        user["contact"]["mobile"].replace("+44", "0"),
        user["contact"]["email"],
    )
    return tenant


@pytest.fixture
def tenants(api: TestClient, settings: Settings) -> tuple[Tenant, Tenant]:
    a = _tenant(
        api,
        settings,
        "RX3",
        _patient("9434765919", "Morwenna", "Treloar", "+447700900123", "morwenna@example.org"),
    )
    b = _tenant(
        api,
        settings,
        "RXX",
        _patient("4010232137", "Idris", "Pengelly", "+447700900456", "idris@example.org"),
    )
    return a, b


def _routes(api: TestClient) -> list[tuple[str, str]]:
    found = []
    for context in iter_route_contexts(api.app.routes):  # type: ignore[attr-defined]
        for method in sorted(context.methods or ()):
            if method != "HEAD" and not is_public(context.path, method):
                found.append((context.path, method))
    return found


def _parameters(path: str) -> list[str]:
    return [p.split("}")[0].split(":")[0] for p in path.split("{")[1:]]


def _concrete(path: str, owner: Tenant) -> list[str]:
    """The path filled with the owner's ids, once per FHIR type where the type varies."""
    names = _parameters(path)
    types = FHIR_TYPES if "resource_type" in names else ("Task",)
    paths = []
    for resource_type in types:
        values = {
            "recommendation_id": owner.recommendation_id,
            "resource_type": resource_type,
            "resource_id": owner.resources.get(resource_type, owner.resources["Task"]),
            "delivery_id": owner.delivery_id,
            "ods_code": "Y00001",
            "ods": "Y00001",
            "practitioner_id": "mhscp-001",
        }
        filled = path
        for name in names:
            filled = filled.replace("{" + name + "}", values.get(name, owner.recommendation_id))
        paths.append(filled)
    return sorted(set(paths))


def _status_of(api: TestClient, tenant: Tenant) -> dict[str, Any]:
    shown = api.get(f"/v1/recommendations/{tenant.recommendation_id}", headers=tenant.headers)
    assert shown.status_code == 200
    body: dict[str, Any] = shown.json()
    return {"status": body["status"], "timeline": len(body["timeline"])}


def _to_sign_in(response: Any) -> bool:
    return response.status_code in (302, 303, 307) and "login" in response.headers.get(
        "location", ""
    )


def _without_echo(response: Any) -> str:
    """The body without a searchset's links, which repeat the caller's own query."""
    try:
        body = response.json()
    except ValueError:
        return str(response.text)
    if isinstance(body, dict):
        body.pop("link", None)
        body.pop("next", None)
    return json.dumps(body)


def _leaks(text: str, owner: Tenant, *, ids_allowed: bool = False) -> list[str]:
    secrets = list(owner.identifiers)
    if not ids_allowed:
        secrets.append(owner.recommendation_id)
    return [s for s in secrets if s in text]


def test_b_cannot_reach_a_by_any_route(api: TestClient, tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    before = _status_of(api, a)
    failures: list[str] = []
    for template, method in _routes(api):
        for path in _concrete(template, a):
            body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
            response = api.request(
                method, path, headers=b.headers, json=body, follow_redirects=False
            )
            refused = response.status_code >= 400 or _to_sign_in(response)
            reaches_a_by_id = any(
                p in template for p in ("{recommendation_id}", "{resource_id}", "{delivery_id}")
            )
            if reaches_a_by_id and not refused:
                failures.append(f"{method} {path} -> {response.status_code}")
            if method != "GET" and not refused:
                failures.append(f"{method} {path} -> {response.status_code} (a change by B)")
            # Echoing back the id B itself sent tells B nothing.
            leaked = _leaks(response.text, a, ids_allowed=a.recommendation_id in path)
            if leaked:
                failures.append(f"{method} {path}: shows A's {leaked}")
    assert failures == [], "\n".join(failures)
    assert _status_of(api, a) == before


def test_b_lists_and_searches_find_nothing_of_a(
    api: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    listed = api.get("/v1/recommendations", headers=b.headers).json()
    assert [item["id"] for item in listed["items"]] == [b.recommendation_id]
    searches: list[tuple[str, dict[str, str]]] = [
        ("/v1/recommendations", {"practice": "Y00001"}),
        ("/v1/recommendations", {"status": "received"}),
    ]
    for resource_type in FHIR_TYPES:
        searches += [
            (f"/fhir/{resource_type}", {}),
            (
                f"/fhir/{resource_type}",
                {"patient:identifier": f"{systems.NHS_NUMBER}|{a.identifiers[0]}"},
            ),
            (f"/fhir/{resource_type}", {"identifier": a.recommendation_id}),
        ]
    for path, params in searches:
        response = api.get(path, params=params, headers=b.headers)
        assert response.status_code < 500, f"{path} {params}"
        assert _leaks(_without_echo(response), a) == [], f"{path} {params}"


def test_a_case_management_app_cannot_replay_even_with_an_ops_claim(
    api: TestClient, settings: Settings, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    pem = keys.generate_private_key_pem("EC")
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        registry.register_client(
            uow,
            client_id="trust-b",
            kind="case-management",
            organisation_ods="RXX",
            jwks={"keys": [keys.public_jwk(pem)]},
            now=datetime.now(UTC),
        )
        uow.commit()
    # A token claiming every scope: the registry cuts it down to the case-management ones.
    token = issue_token(
        settings,
        client_id="trust-b",
        organisation_ods="RXX",
        scopes=("recommendations", "fhir", "ops"),
    )

    replay = api.post(
        f"/ops/deliveries/{a.delivery_id}/replay", headers={"Authorization": f"Bearer {token}"}
    )

    assert replay.status_code == 403
    assert "ops" in replay.json()["detail"]


def test_ops_sees_recommendation_ids_never_patients(
    api: TestClient, settings: Settings, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    ops = {
        "Authorization": "Bearer "
        + issue_token(settings, client_id="ops-tool", organisation_ods="LIAISON", scopes=("ops",))
    }
    seen_ids = False
    for template, method in _routes(api):
        if method != "GET" or not (template.startswith("/ops") or "AuditEvent" in template):
            continue
        for owner in (a, b):
            for path in _concrete(template, owner):
                response = api.get(path, headers=ops)
                assert _leaks(response.text, owner, ids_allowed=True) == [], path
                seen_ids = seen_ids or owner.recommendation_id in response.text
    assert seen_ids, "the ops routes should show recommendation ids"
    # And ops cannot read patient data through the case-management routes.
    assert api.get(f"/v1/recommendations/{a.recommendation_id}", headers=ops).status_code == 403
    assert api.get(f"/fhir/Task/{a.resources['Task']}", headers=ops).status_code == 403


def test_a_gp_practice_reads_only_requests_addressed_to_it(
    api: TestClient, settings: Settings, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants  # addressed to Y00001
    other_practice = {
        "Authorization": "Bearer "
        + issue_token(
            settings,
            client_id="gp-y00002",
            organisation_ods="Y00002",
            scopes=("gp-practice", "fhir"),
            kind="gp-practice",
            practice_ods="Y00002",
        )
    }
    addressed = {
        "Authorization": "Bearer "
        + issue_token(
            settings,
            client_id="gp-y00001",
            organisation_ods="Y00001",
            scopes=("gp-practice", "fhir"),
            kind="gp-practice",
            practice_ods="Y00001",
        )
    }
    for resource_type, resource_id in a.resources.items():
        response = api.get(f"/fhir/{resource_type}/{resource_id}", headers=other_practice)
        assert response.status_code == 404, (resource_type, response.status_code)
        own = api.get(f"/fhir/{resource_type}/{resource_id}", headers=addressed)
        assert own.status_code == 200, (resource_type, own.status_code)
    for resource_type in FHIR_TYPES:
        response = api.get(f"/fhir/{resource_type}", headers=other_practice)
        assert _leaks(response.text, a) == [], resource_type


CALLBACK_SECRETS = {
    "A81001": "x-practice-secret-0123456789abcdef",
    "A81002": "y-practice-secret-98",
}


@pytest.fixture
def two_practices(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        for ods, secret in CALLBACK_SECRETS.items():
            monkeypatch.setenv(f"LIAISON_PRACTICE_SECRET_{ods}_CALLBACK", secret)
            write_practice(
                uow,
                ods,
                PracticeSettings(
                    adapter="inbox", callback_secret_env=f"LIAISON_PRACTICE_SECRET_{ods}_CALLBACK"
                ),
                source="api",
            )
            uow.session.flush()
            ensure_inbox_user(uow, ods, "reception", hash_password(INBOX_PASSWORD), replace=True)
        uow.commit()


def _delivered_to(api: TestClient, ods: str) -> str:
    accepted = api.post("/v1/recommendations", json=sample_recommendation(ods))
    assert accepted.status_code == 202, accepted.text
    rec_id = str(accepted.json()["id"])
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        apply_status(
            uow, StatusChange(rec_id, "delivered", source="delivery"), now=datetime.now(UTC)
        )
        uow.commit()
    return rec_id


def _signed_callback(api: TestClient, path_ods: str, secret: str, rec_id: str) -> Any:
    task = {
        "resourceType": "Task",
        "identifier": [{"system": systems.RECOMMENDATION_ID, "value": rec_id}],
        "intent": "order",
        **task_fields_for("accepted"),
    }
    raw = json.dumps(task).encode()
    stamp = str(int(time.time()))
    return api.post(
        f"/v1/gp-callbacks/{path_ods}",
        content=raw,
        headers={
            "Content-Type": "application/fhir+json",
            callback_signatures.TIMESTAMP_HEADER: stamp,
            callback_signatures.SIGNATURE_HEADER: callback_signatures.sign(secret, stamp, raw),
        },
    )


@pytest.mark.usefixtures("two_practices")
def test_practice_x_cannot_post_callbacks_for_practice_y(api: TestClient) -> None:
    ys = _delivered_to(api, "A81002")
    x_secret = CALLBACK_SECRETS["A81001"]

    as_y = _signed_callback(api, "A81002", x_secret, ys)
    about_y = _signed_callback(api, "A81001", x_secret, ys)

    assert as_y.status_code == 401
    assert about_y.status_code == 200
    assert about_y.json()["ignored"] == [ys]
    assert api.get(f"/v1/recommendations/{ys}").json()["status"] == "delivered"


@pytest.mark.usefixtures("two_practices")
def test_inbox_staff_of_x_cannot_see_or_act_on_ys_requests(api: TestClient) -> None:
    ys = _delivered_to(api, "A81002")
    browser = TestClient(api.app)
    with browser:
        login = browser.get("/inbox/login").text
        signed_in = browser.post(
            "/inbox/login",
            data={
                "practice": "A81001",
                "username": "reception",
                "password": INBOX_PASSWORD,
                "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', login).group(1),  # type: ignore[union-attr]
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        listing = browser.get("/inbox")
        token = re.search(r'name="csrf_token" value="([^"]+)"', listing.text).group(1)  # type: ignore[union-attr]

        assert ys not in listing.text
        assert browser.get(f"/inbox/requests/{ys}").status_code == 404
        acted = browser.post(
            f"/inbox/requests/{ys}", data={"action": "accept", "csrf_token": token}
        )
        assert acted.status_code == 404
    assert api.get(f"/v1/recommendations/{ys}").json()["status"] == "delivered"
