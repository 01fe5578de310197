"""The practice inbox in headless Chromium (Debian's package, driven by Playwright through
`executable_path`; no browser download), against the real processes: a receptionist signs in
with the keyboard alone, opens the request, and marks it ready to collect; the practitioner
and the service user are both told."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from adapters.standins.pds.patients import registered_at
from gateway.cli import sample_recommendation
from tests.e2e.conftest import INBOX_PASSWORD, AdaptersStack
from tests.e2e.stack import wait_for

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _get(client: httpx.Client, rec_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/recommendations/{rec_id}").json()
    return body


def _sign_in_with_the_keyboard(page: Page, base: str) -> None:
    page.goto(f"{base}/inbox")
    expect(page).to_have_url(f"{base}/inbox/login")
    # Every field has a label; the form is used with the keyboard alone.
    page.get_by_label("Practice ODS code").focus()
    page.keyboard.type("A81003")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("reception")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(INBOX_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Requests for your practice")).to_be_visible()


def test_a_wrong_password_is_explained(adapters_stack: AdaptersStack, browser: Browser) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{adapters_stack.stack.api_url}/inbox/login")
        page.get_by_label("Practice ODS code").fill("A81003")
        page.get_by_label("Username").fill("reception")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("The practice code, username or password is not right")
    finally:
        page.close()


def test_mark_ready_tells_the_practitioner_and_the_service_user(
    adapters_stack: AdaptersStack, browser: Browser, tmp_path: Path
) -> None:
    stack = adapters_stack.stack
    with stack.client() as client:
        response = client.post(
            "/v1/recommendations",
            json=sample_recommendation("A81003"),
            headers={"Idempotency-Key": "e2e-inbox-ready"},
        )
        assert response.status_code == 202, response.text
        rec_id = response.json()["id"]
        wait_for(
            lambda: _get(client, rec_id)["status"] == "delivered",
            timeout=45,
            what="the request to reach the practice inbox",
        )

        page = browser.new_page()
        try:
            _sign_in_with_the_keyboard(page, stack.api_url)
            nhs = registered_at("A81003")  # the patient PDS registers at this practice
            row = page.get_by_role("row").filter(has_text=f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}")
            expect(row).to_contain_text("Varenicline")
            row.get_by_role("link", name="Sam Taylor").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Sam Taylor")
            expect(page.locator(".summary")).to_contain_text("1 mg twice daily")

            ready = page.get_by_role("group", name="Mark ready to collect")
            ready.get_by_label("Pharmacy (optional)").fill("Boots, 1 High Street")
            ready.get_by_role("button", name="Mark ready to collect").click()
            expect(page.get_by_role("status")).to_contain_text("Ready to collect")
            page.screenshot(path=str(tmp_path / "inbox-ready.png"), full_page=True)
        finally:
            page.close()

        told = wait_for(
            lambda: (
                len(
                    sent := [
                        (n["recipient"], n["channel"])
                        for n in _get(client, rec_id)["notifications"]
                        if n["event"] == "ready-to-collect" and n["status"] == "sent"
                    ]
                )
                == 2
                and sent
            ),
            timeout=30,
            what="both ready-to-collect notifications",
        )
        assert sorted(told) == [("practitioner", "email"), ("service-user", "sms")]
        timeline = _get(client, rec_id)["timeline"]
        assert timeline[-1]["status"] == "ready-to-collect"

    assert wait_for(
        lambda: [
            m
            for m in stack.mail()
            if m["rcpt_tos"] == ["alex.morgan@example.nhs.uk"]
            and rec_id in m["body"]
            and "ready to collect" in m["subject"].lower()
        ],
        timeout=15,
        what="the practitioner's email",
    )
    texts = [m for m in stack.sms() if m["to"] == "+447700900123" and "ready" in m["body"]]
    assert texts
    assert all("arenicline" not in m["body"] for m in texts)
