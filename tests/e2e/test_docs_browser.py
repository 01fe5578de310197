"""The API docs render in headless Chromium (Debian's package) with every request to another
host refused, as on a network that blocks CDNs: Swagger UI lists the API's operations and
ReDoc its title, from files Liaison serves itself."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from gateway.api.app import create_app
from gateway.settings import DatabaseSettings, Settings
from tests.peers.servers import serve_in_thread

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


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("docs")
    settings = Settings(
        data_dir=workdir, database=DatabaseSettings(url=f"sqlite:///{workdir}/liaison.db")
    )
    with serve_in_thread(create_app(settings)) as url:
        yield url


def _offline_page(browser: Browser, base_url: str) -> tuple[Page, list[str]]:
    """A page whose requests to any host but Liaison's are refused (and listed)."""
    refused: list[str] = []
    own = urlsplit(base_url).netloc
    page = browser.new_page()

    def only_liaison(route: Route) -> None:
        if urlsplit(route.request.url).netloc in (own, ""):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_liaison)
    return page, refused


def test_swagger_ui_renders_the_operations_with_no_other_host(
    browser: Browser, base_url: str
) -> None:
    page, refused = _offline_page(browser, base_url)
    page.goto(f"{base_url}/docs")
    expect(
        page.locator(".opblock-summary-path", has_text="/v1/recommendations").first
    ).to_be_visible(timeout=30_000)
    assert refused == []
    page.close()


def test_redoc_renders_with_no_other_host(browser: Browser, base_url: str) -> None:
    page, refused = _offline_page(browser, base_url)
    page.goto(f"{base_url}/redoc")
    expect(page.get_by_role("heading", name="Liaison").first).to_be_visible(timeout=30_000)
    assert refused == []
    page.close()
