"""The integration engineers' console (/console): who may open it, what it shows, and the
replays it starts. Runs the real app in process over a migrated SQLite database."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.cli import sample_recommendation
from gateway.domain.charts import PracticeTiming, nice_step, time_to_ready_chart, unit_for
from gateway.security import clients as registry
from gateway.security import keys
from gateway.security.tokens import issue_token
from gateway.services.replay import run_batch_step
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import Settings
from gateway.store.models import Delivery, DeliveryAttempt, Practice
from gateway.store.session_models import ConsoleSession
from gateway.store.unit_of_work import UnitOfWork

PATIENT_DETAILS = ("9434765919", "Taylor", "Sam ", "+447700900123", "sam@example.org", "1974-03-02")


def _uow(api: TestClient) -> UnitOfWork:
    return UnitOfWork(api.app.state.session_factory)  # type: ignore[attr-defined]


def _submit(api: TestClient, ods: str) -> str:
    response = api.post("/v1/recommendations", json=sample_recommendation(ods))
    assert response.status_code == 202, response.text
    rec_id: str = response.json()["id"]
    return rec_id


def _kill(api: TestClient, rec_id: str, *, attempts: int = 2) -> str:
    """Dead-letter the recommendation's delivery after `attempts` failed attempts."""
    now = datetime.now(UTC)
    with _uow(api) as uow:
        delivery = uow.session.scalars(
            select(Delivery).where(Delivery.recommendation_id == rec_id)
        ).one()
        delivery.state, delivery.attempt_count = "dead", attempts
        delivery.last_error = "HTTP 503 from https://gp.example/fhir"
        for number in range(1, attempts + 1):
            uow.session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id,
                    number=number,
                    adapter="fhir",
                    started_at=now,
                    finished_at=now,
                    outcome="transient",
                    status_code=503,
                    error="HTTP 503 from https://gp.example/fhir",
                )
            )
        uow.commit()
        return delivery.id


def _form_token(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found, f"no {name} in the page"
    return found.group(1)


def _sign_in(api: TestClient, token: str, *, next_url: str = "/console/") -> Any:
    page = api.get("/console/login")
    assert page.status_code == 200
    return api.post(
        "/console/login",
        data={"token": token, "form_token": _form_token(page.text, "form_token"), "next": next_url},
        follow_redirects=False,
    )


def _engineer_token(settings: Settings) -> str:
    return issue_token(settings, client_id="engineer", organisation_ods="X26", scopes=("ops",))


@pytest.fixture
def console(api: TestClient, settings: Settings) -> TestClient:
    """The API's client, signed in to the console as an engineer."""
    response = _sign_in(api, _engineer_token(settings))
    assert response.status_code == 303, response.text
    return api


def _csrf(console: TestClient) -> str:
    return _form_token(console.get("/console/").text, "csrf_token")


def _no_patient_details(text: str) -> None:
    for detail in PATIENT_DETAILS:
        assert detail not in text, f"{detail!r} appears in the page"


def _console_routes(api: TestClient) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(api.app.routes):  # type: ignore[attr-defined]
        path = context.path or ""
        if path.startswith("/console") and path != "/console/login":
            found.extend((method, path) for method in sorted(context.methods or ()))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


# Who may open it


def test_an_engineer_signs_in_with_an_ops_token(api: TestClient, settings: Settings) -> None:
    response = _sign_in(api, _engineer_token(settings), next_url="/console/practices")

    assert response.status_code == 303
    assert response.headers["location"] == "/console/practices"
    cookie = response.headers["set-cookie"]
    assert "liaison_console=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    page = api.get("/console/practices")
    assert page.status_code == 200
    assert "Signed in as engineer" in page.text
    # The session lives on the server: the cookie is a random id, stored only as a digest.
    raw = api.cookies.get("liaison_console")
    assert raw
    with _uow(api) as uow:
        row = uow.session.scalars(select(ConsoleSession)).one()
        assert row.id_hash != raw
        assert (row.client_id, row.scopes) == ("engineer", "ops")


def test_a_user_without_the_ops_scope_cannot_open_any_console_page(
    api: TestClient, settings: Settings
) -> None:
    routes = _console_routes(api)
    assert len(routes) >= 12

    def refused_everywhere() -> None:
        for method, path in routes:
            response = api.request(
                method,
                _concrete(path),
                data={"csrf_token": "x"} if method == "POST" else None,
                follow_redirects=False,
            )
            assert response.status_code == 303, f"{method} {path}: {response.status_code}"
            assert response.headers["location"].startswith("/console/login")

    # Not signed in, though the client sends a bearer token with every scope.
    refused_everywhere()
    # A case-management app's token: sign-in refused, no session made.
    app_token = issue_token(
        settings, client_id="case-app", organisation_ods="RX3", scopes=("recommendations", "fhir")
    )
    refusal = _sign_in(api, app_token)
    assert refusal.status_code == 403
    assert "lacks the ops scope" in refusal.text
    assert "liaison_console=" not in refusal.headers.get("set-cookie", "")
    refused_everywhere()
    # Invalid and expired tokens say why, and make no session either.
    for token, why in (
        ("not-a-token", "not a JWT"),
        (issue_token(settings, client_id="engineer", organisation_ods="X26", ttl=-30), "expired"),
    ):
        response = _sign_in(api, token)
        assert response.status_code == 401
        assert why in response.text
    refused_everywhere()
    with _uow(api) as uow:
        assert uow.session.scalars(select(ConsoleSession)).all() == []


def test_revoking_the_client_ends_its_console_session(api: TestClient, settings: Settings) -> None:
    pem = keys.generate_private_key_pem("EC")
    with _uow(api) as uow:
        registry.register_client(
            uow,
            client_id="ops-team",
            kind="ops",
            organisation_ods="X26",
            jwks={"keys": [keys.public_jwk(pem)]},
            scopes=None,
            now=datetime.now(UTC),
        )
        uow.commit()
    token = issue_token(settings, client_id="ops-team", organisation_ods="X26", scopes=("ops",))
    assert _sign_in(api, token).status_code == 303
    assert api.get("/console/").status_code == 200

    with _uow(api) as uow:
        registry.revoke_client(uow, client_id="ops-team", now=datetime.now(UTC))
        uow.commit()

    response = api.get("/console/", follow_redirects=False)
    assert response.status_code == 303
    assert "why=revoked" in response.headers["location"]
    with _uow(api) as uow:
        assert uow.session.scalars(select(ConsoleSession)).all() == []


def test_sign_in_needs_the_form_it_was_given(api: TestClient, settings: Settings) -> None:
    # A page elsewhere cannot sign a browser in (login CSRF): the form's token must match
    # the cookie set with it.
    api.get("/console/login")
    response = api.post(
        "/console/login",
        data={"token": _engineer_token(settings), "form_token": "forged", "next": "/console/"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "liaison_console=" not in response.headers.get("set-cookie", "")


def test_sign_in_goes_back_only_into_the_console(api: TestClient, settings: Settings) -> None:
    for target in ("https://evil.example/", "//evil.example/console/", "/v1/recommendations"):
        api.cookies.clear()
        response = _sign_in(api, _engineer_token(settings), next_url=target)
        assert response.headers["location"] == "/console/"


def test_sign_out_ends_the_session(console: TestClient) -> None:
    response = console.post(
        "/console/logout", data={"csrf_token": _csrf(console)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert console.get("/console/", follow_redirects=False).status_code == 303
    with _uow(console) as uow:
        assert uow.session.scalars(select(ConsoleSession)).all() == []


def test_pages_carry_security_headers(console: TestClient) -> None:
    page = console.get("/console/")
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    # No inline script: the page's JavaScript is a file of its own.
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None
    assert console.get("/console/static/console.js").status_code == 200


def test_cookies_are_secure_behind_https(api: TestClient, settings: Settings) -> None:
    api.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={
            "api": settings.api.model_copy(
                update={"public_base_url": "https://liaison.example.nhs.uk"}
            )
        }
    )
    page = api.get("/console/login")
    assert "Secure" in page.headers["set-cookie"]


# What it shows


def test_overview_counts_link_to_the_filtered_list(console: TestClient) -> None:
    dead = _kill(console, _submit(console, "Y00004"))
    pending_rec = _submit(console, "Y00001")

    overview = console.get("/console/")

    assert overview.status_code == 200
    dead_card = re.search(
        r'href="(/console/deliveries\?state=dead)" id="count-dead">\s*'
        r'<span class="count">(\d+)</span>',
        overview.text,
    )
    assert dead_card
    assert dead_card.group(2) == "1"
    assert 'href="/console/deliveries?practice=Y00001&amp;state=pending"' in overview.text
    listing = console.get(dead_card.group(1))
    assert listing.status_code == 200
    assert f'href="/console/deliveries/{dead}"' in listing.text
    assert pending_rec not in listing.text
    assert "1 delivery found" in listing.text
    _no_patient_details(overview.text + listing.text)


def test_the_list_is_searchable_by_recommendation_practice_state_age_and_error(
    console: TestClient,
) -> None:
    first = _submit(console, "Y00004")
    dead = _kill(console, first)
    other = _submit(console, "Y00001")

    def found(**params: str) -> set[str]:
        page = console.get("/console/deliveries", params=params)
        assert page.status_code == 200, page.text
        return set(re.findall(r'href="/console/deliveries/([0-9a-f-]{36})"', page.text))

    assert found(recommendation_id=first) == {dead}
    assert len(found(practice="y00001")) == 1
    assert found(state="dead") == {dead}
    assert found(error="503 from") == {dead}
    assert found(older_than_seconds="3600") == set()
    assert len(found()) == 2
    assert other not in found(state="dead")
    refused = console.get("/console/deliveries", params={"state": "lost"})
    assert refused.status_code == 422
    assert "state: unknown state" in refused.text


def test_delivery_page_shows_every_attempt(console: TestClient) -> None:
    dead = _kill(console, _submit(console, "Y00004"), attempts=3)

    page = console.get(f"/console/deliveries/{dead}")

    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>", page.text)
    assert rows == ["1", "2", "3"]
    assert page.text.count("HTTP 503 from https://gp.example/fhir") >= 3
    assert ">503<" in page.text
    assert "Replay this delivery" in page.text
    _no_patient_details(page.text)
    assert console.get("/console/deliveries/nope").status_code == 404


def test_replaying_one_delivery_needs_the_form_token(console: TestClient) -> None:
    dead = _kill(console, _submit(console, "Y00004"))

    forged = console.post(f"/console/deliveries/{dead}/replay", data={"csrf_token": "guess"})
    assert forged.status_code == 403
    with _uow(console) as uow:
        assert uow.deliveries.get(dead).state == "dead"  # type: ignore[union-attr]

    response = console.post(
        f"/console/deliveries/{dead}/replay",
        data={"csrf_token": _csrf(console)},
        follow_redirects=False,
    )

    assert response.status_code == 303
    new_id = response.headers["location"].rsplit("/", 1)[1]
    page = console.get(response.headers["location"])
    assert "pending" in page.text
    assert f'href="/console/deliveries/{dead}"' in page.text  # "Replay of"
    assert 'data-state-url="/console/deliveries/' in page.text  # updates itself
    with _uow(console) as uow:
        original, replay = uow.deliveries.get(dead), uow.deliveries.get(new_id)
        assert original is not None
        assert replay is not None
        assert (original.state, replay.state, replay.replay_of) == ("replayed", "pending", dead)
    state = console.get(f"/console/deliveries/{new_id}/state").json()
    assert state == {"state": "pending", "attempt_count": 0}
    # Replaying the original again is refused: it is no longer dead.
    again = console.post(f"/console/deliveries/{dead}/replay", data={"csrf_token": _csrf(console)})
    assert again.status_code == 409


def test_bulk_replay_confirms_then_shows_progress_and_can_be_cancelled(
    console: TestClient,
) -> None:
    dead = [_kill(console, _submit(console, ods)) for ods in ("Y00004", "Y00004", "Y00005")]

    confirm = console.get("/console/replays/new")
    assert confirm.status_code == 200
    assert "This will replay <strong>3</strong> dead deliveries" in confirm.text
    assert re.search(r"Y00004</th><td>2<", confirm.text)
    assert re.search(r"Y00005</th><td>1<", confirm.text)
    with _uow(console) as uow:
        assert {uow.deliveries.get(d).state for d in dead} == {"dead"}  # type: ignore[union-attr]

    form = {
        "csrf_token": _csrf(console),
        "practice": "",
        "recommendation_id": "",
        "error": "",
        "created_before": "",
    }
    # The engineer agreed to 2, but 3 match now: asked again, nothing replayed.
    changed = console.post("/console/replays", data={**form, "confirmed_total": "2"})
    assert "changed from 2 to 3" in changed.text
    started = console.post(
        "/console/replays", data={**form, "confirmed_total": "3"}, follow_redirects=False
    )
    assert started.status_code == 303
    batch_url = started.headers["location"]
    batch_id = batch_url.rsplit("/", 1)[1]
    page = console.get(batch_url)
    assert 'id="replay-state">running<' in page.text
    assert "Cancel the rest" in page.text

    with _uow(console) as uow:
        run_batch_step(uow, batch_id, now=datetime.now(UTC), size=1)
    assert console.get(f"{batch_url}/progress").json()["replayed"] == 1
    cancelled = console.post(
        f"{batch_url}/cancel", data={"csrf_token": _csrf(console)}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    with _uow(console) as uow:
        assert run_batch_step(uow, batch_id, now=datetime.now(UTC), size=1) is False
    progress = console.get(f"{batch_url}/progress").json()
    assert (progress["state"], progress["replayed"], progress["total"]) == ("cancelled", 1, 3)
    assert "Cancel the rest" not in console.get(batch_url).text


def test_bulk_replay_by_practice_from_the_filtered_list(console: TestClient) -> None:
    for ods in ("Y00004", "Y00005"):
        _kill(console, _submit(console, ods))
    listing = console.get("/console/deliveries", params={"state": "dead", "practice": "Y00004"})
    link = re.search(r'href="([^"]+)" id="replay-all"', listing.text)
    assert link
    confirm = console.get(link.group(1).replace("&amp;", "&"))
    assert "This will replay <strong>1</strong> dead delivery" in confirm.text
    assert "Y00005" not in confirm.text


def test_practices_page_shows_breaker_rate_limit_last_success_and_the_chart(
    console: TestClient,
) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    with _uow(console) as uow:
        practice = uow.session.get(Practice, "Y00004")
        assert practice is not None
        practice.breaker_state, practice.breaker_failures = "open", 7
        practice.breaker_opened_at = start
        practice.breaker_last_error = "HTTP 503 from the practice"
        uow.session.get(Practice, "Y00001").rate_limit_per_minute = 30  # type: ignore[union-attr]
        uow.commit()
    for hours in (2, 4, 30):
        rec_id = _submit(console, "Y00001")
        with _uow(console) as uow:
            for status, at in (
                ("delivered", start),
                ("accepted", start + timedelta(minutes=5)),
                ("prescription-issued", start + timedelta(minutes=10)),
                ("ready-to-collect", start + timedelta(hours=hours)),
            ):
                assert apply_status(uow, StatusChange(rec_id, status, source="poll"), now=at)
            delivery = uow.deliveries.for_recommendation(rec_id)[0]
            delivery.state, delivery.delivered_at = "delivered", start
            uow.commit()

    page = console.get("/console/practices")

    assert page.status_code == 200
    row = re.search(r'<tr id="practice-Y00004">(.*?)</tr>', page.text, re.S)
    assert row
    assert "breaker-open" in row.group(1)
    assert "HTTP 503 from the practice" in row.group(1)
    y1 = re.search(r'<tr id="practice-Y00001">(.*?)</tr>', page.text, re.S)
    assert y1
    assert "30 / min" in y1.group(1)
    assert "48.0 h ago" in y1.group(1)
    # Median 4 h, 90th percentile 24.8 h, drawn as bars with their values in words.
    svg = re.search(r'<svg[^>]*class="chart".*?</svg>', page.text, re.S)
    assert svg
    assert re.search(r'data-practice="Y00001".*?data-kind="median".*?4 h', svg.group(0), re.S)
    assert "Y00001 90th percentile: 25 h (3 ready)" in svg.group(0)
    assert "None ready to collect yet: Y00002, Y00003" in svg.group(0)
    _no_patient_details(page.text)


def test_alerts_page_lists_raised_alerts(console: TestClient) -> None:
    from gateway.store.alert_models import Alert

    now = datetime.now(UTC)
    with _uow(console) as uow:
        uow.session.add(
            Alert(
                rule="circuit-open",
                subject="Y00004",
                detail="the circuit breaker for Y00004 is open",
                first_seen_at=now,
                last_seen_at=now,
                raised_at=now,
            )
        )
        uow.commit()
    page = console.get("/console/alerts")
    assert "the circuit breaker for Y00004 is open" in page.text
    assert "firing" in page.text
    assert "the circuit breaker for Y00004 is open" in console.get("/console/").text


# The chart, drawn without a browser


def test_chart_escapes_what_it_draws_and_describes_itself() -> None:
    svg = time_to_ready_chart(
        [
            PracticeTiming("<b>&", 3600.0, 7200.0, 4),
            PracticeTiming("Y00002", None, None, 0),
        ]
    )
    assert "<b>" not in svg
    assert "&lt;b&gt;&amp;" in svg
    assert 'role="img"' in svg
    assert "<title" in svg
    assert "<desc" in svg
    assert svg.count('class="bar"') == 2
    assert "None ready to collect yet: Y00002" in svg


def test_chart_picks_a_readable_unit_and_round_ticks() -> None:
    assert unit_for(90).name == "s"
    assert unit_for(3000).name == "min"
    assert unit_for(30 * 3600).name == "h"
    assert unit_for(10 * 86400).name == "days"
    assert nice_step(9.0) == 5.0
    assert nice_step(100.0) == 50.0
    assert nice_step(0.0) == 1.0
    empty = time_to_ready_chart([])
    assert "No prescription has become ready to collect yet." in empty
