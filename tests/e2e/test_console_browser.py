"""The integration engineers' console and /metrics against real processes (API, worker,
beat, GP simulator, sinks started by the `liaison` CLI), driven by headless Chromium.

One stack serves the module: first an end-to-end run whose /metrics counters must move by
exactly what happened, then an engineer at the console. Chromium is Debian's package
(`executable_path`), never a Playwright download. Set LIAISON_UPDATE_SCREENSHOTS=1 to
refresh the screenshots in docs/.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from prometheus_client.parser import text_string_to_metric_families

from gateway.cli import sample_recommendation
from gateway.security.tokens import issue_token
from gateway.settings import Settings
from tests.e2e.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("console")
    running = Stack(
        workdir=workdir,
        database_url=f"sqlite:///{workdir}/liaison.db",
        broker_url=f"sqla+sqlite:///{workdir}/broker.db",
        extra_env={
            # A practice that keeps failing is dead-lettered within seconds, not 72 hours.
            "LIAISON_DELIVERY__RETRY_BUDGET_SECONDS": "4",
            "LIAISON_DELIVERY__BREAKER_OPEN_SECONDS": "2",
        },
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _token_for(stack: Stack, client_id: str, kind: str, ods: str) -> str:
    key = stack.workdir / f"{client_id}.pem"
    stack.liaison("clients", "keygen", "--out", str(key))
    stack.liaison(
        "clients",
        "add",
        client_id,
        "--kind",
        kind,
        "--ods",
        ods,
        "--private-key-for-demo",
        str(key),
    )
    return stack.liaison("token", "--client", client_id)


@pytest.fixture(scope="module")
def engineer_token(stack: Stack) -> str:
    return _token_for(stack, "engineer", "ops", "X26")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = "Debian's chromium package is needed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        yield context.new_page()
    finally:
        context.close()


def _samples(stack: Stack, token: str) -> Samples:
    response = httpx.get(
        f"{stack.api_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    response.raise_for_status()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def _submit(client: httpx.Client, ods: str) -> str:
    response = client.post("/v1/recommendations", json=sample_recommendation(ods))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _status(client: httpx.Client, rec_id: str) -> str:
    return str(client.get(f"/v1/recommendations/{rec_id}").json()["status"])


def _delivery_of(client: httpx.Client, rec_id: str) -> dict[str, Any]:
    items = client.get("/ops/deliveries", params={"recommendation_id": rec_id}).json()["items"]
    found: dict[str, Any] = client.get(f"/ops/deliveries/{items[-1]['id']}").json()
    return found


def _screenshot(page: Page, name: str, tmp: Path) -> None:
    target = DOCS if os.environ.get("LIAISON_UPDATE_SCREENSHOTS") == "1" else tmp
    page.screenshot(path=str(target / name), full_page=True)


def test_metrics_counters_move_by_what_happened_end_to_end(
    stack: Stack, engineer_token: str
) -> None:
    before = _samples(stack, engineer_token)
    emails_before, texts_before = len(stack.mail()), len(stack.sms())
    with stack.client() as client:
        happy = [_submit(client, "Y00001") for _ in range(2)]
        down = _submit(client, "Y00004")  # answers 503 to everything
        wait_for(
            lambda: (
                all(_status(client, r) == "collected" for r in happy)
                and _status(client, down) == "delivery-failed"
            ),
            timeout=90,
            what="two collected, one dead-lettered",
        )
        failed = _delivery_of(client, down)
        adapter = failed["attempts"][0]["adapter"]
        assert failed["state"] == "dead"
        assert {a["status_code"] for a in failed["attempts"]} == {503}

    def moved(after: Samples, name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    def settled() -> Samples | None:
        # Notifications are sent after the statuses change: wait until every message the
        # sinks received is counted (and nothing more).
        after = _samples(stack, engineer_token)
        emails = len(stack.mail()) - emails_before
        texts = len(stack.sms()) - texts_before
        counted = (
            moved(after, "liaison_notifications_total", channel="email", outcome="sent"),
            moved(after, "liaison_notifications_total", channel="sms", outcome="sent"),
        )
        return after if emails and texts and counted == (emails, texts) else None

    after = wait_for(settled, timeout=60, what="notification counters to match the sinks")

    attempts = "liaison_delivery_attempts_total"
    assert moved(after, attempts, adapter=adapter, outcome="success") == 2
    assert moved(after, attempts, adapter=adapter, outcome="transient") == failed["attempt_count"]
    assert failed["attempt_count"] >= 1
    assert (
        moved(after, "liaison_delivery_failures_total", adapter=adapter, error_class="http-5xx")
        == failed["attempt_count"]
    )
    assert moved(after, "liaison_intake_to_delivered_seconds_count") == 2
    assert moved(after, "liaison_intake_to_ready_seconds_count") == 2
    assert moved(after, "liaison_notifications_total", channel="email", outcome="failed") == 0
    # Gauges read from the database at scrape time.
    assert _value(after, "liaison_deliveries", practice="Y00001", state="delivered") == 2
    assert _value(after, "liaison_deliveries", practice="Y00004", state="dead") == 1
    assert _value(after, "liaison_database_up") == 1


def test_a_user_without_the_ops_scope_cannot_open_the_console(stack: Stack, page: Page) -> None:
    # What a case-management app's token would hold (the stack signs with the same dev key).
    app_token = issue_token(
        Settings(), client_id="case-app", organisation_ods="RX3", scopes=("recommendations", "fhir")
    )
    for path in ("/console/", "/console/deliveries?state=dead", "/console/practices"):
        page.goto(f"{stack.api_url}{path}")
        expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()

    page.get_by_label("Access token").fill(app_token)
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("#sign-in-message")).to_contain_text("lacks the ops scope")
    page.goto(f"{stack.api_url}/console/practices")
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(0)


def test_an_engineer_follows_a_dead_letter_replays_it_and_watches_it_succeed(
    stack: Stack, engineer_token: str, page: Page, tmp_path: Path
) -> None:
    with stack.client() as client:
        stack.faults(practice="Y00001", down_seconds=600)
        rec_id = _submit(client, "Y00001")
        also_dead = _submit(client, "Y00004")
        try:
            wait_for(
                lambda: (
                    _status(client, rec_id) == "delivery-failed"
                    and _status(client, also_dead) == "delivery-failed"
                ),
                timeout=120,
                what="both deliveries to be dead-lettered",
            )
        except TimeoutError as exc:
            seen = [_delivery_of(client, r) for r in (rec_id, also_dead)]
            raise AssertionError(f"{exc}: {seen}\n{stack.log('worker')}") from exc
        dead_id = _delivery_of(client, rec_id)["id"]
    stack.faults(practice="Y00001", down_seconds=0)  # the practice's system is back

    page.goto(f"{stack.api_url}/console/")
    page.get_by_label("Access token").fill(engineer_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    dead_count = page.locator("#count-dead .count")
    assert int(dead_count.inner_text()) >= 2
    _screenshot(page, "console-overview.png", tmp_path)

    # The dead-letter count leads to the list, and the list to the delivery.
    page.locator("#count-dead").click()
    expect(page).to_have_url(f"{stack.api_url}/console/deliveries?state=dead")
    row = page.locator("tr", has_text=rec_id)
    expect(row).to_have_count(1)
    row.locator("a.delivery-link").click()
    expect(page.get_by_role("heading", name=f"Delivery {dead_id}")).to_be_visible()
    expect(page.locator("#delivery-state")).to_have_text("dead")
    attempts = page.locator("#attempts tbody tr")
    assert attempts.count() >= 2
    expect(attempts.first).to_contain_text("503")
    _screenshot(page, "console-delivery.png", tmp_path)

    # Replay it: a new delivery linked to this one, which the page follows until it lands.
    page.get_by_role("button", name="Replay this delivery").click()
    expect(page.locator("#delivery-state")).to_have_text("delivered", timeout=45_000)
    expect(page.get_by_text("Replay of", exact=True)).to_be_visible()
    expect(page.locator("#attempts tbody tr")).to_have_count(1)

    # The practices page draws the time-to-ready chart (the replayed request is ready soon).
    with stack.client() as client:
        wait_for(
            lambda: _status(client, rec_id) in ("ready-to-collect", "collected"),
            timeout=60,
            what="the replayed request to be ready to collect",
        )
    page.get_by_role("link", name="Practices", exact=True).click()
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    expect(chart.locator('g[data-practice="Y00001"] rect.bar')).to_have_count(2)
    expect(chart.locator("desc")).to_contain_text("Y00001: median")
    expect(page.locator("#practice-Y00004")).to_contain_text("simulator")
    _screenshot(page, "console-practices.png", tmp_path)

    # Bulk replay: confirm how many and which practices, then watch it finish.
    page.goto(f"{stack.api_url}/console/deliveries?state=dead&practice=Y00004")
    page.locator("#replay-all").click()
    summary = page.locator("#replay-summary")
    expect(summary).to_contain_text("dead")
    expect(page.locator("table")).to_contain_text("Y00004")
    page.locator("#confirm-replay").click()
    expect(page.locator("#replay-state")).to_have_text("finished", timeout=30_000)
    expect(page.locator("#replay-count")).to_have_text(page.locator("#replay-total").inner_text())
