"""The one session and CSRF scheme of the web pages (gateway.api.web.sessions), seen through
both pages that use it: the engineers' console and the practice inbox. Each test runs once per
page, over the real app and a migrated SQLite database."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.api.web.sessions import csrf_matches, digest
from gateway.practice_directory import PracticeSettings, ensure_inbox_user, write_practice
from gateway.security.passwords import hash_password
from gateway.security.tokens import issue_token
from gateway.settings import Settings
from gateway.store.session_models import ConsoleSession, InboxSession, WebSession
from gateway.store.unit_of_work import UnitOfWork

PASSWORD = "a long practice password"


def _uow(client: TestClient) -> UnitOfWork:
    return UnitOfWork(client.app.state.session_factory)  # type: ignore[attr-defined]


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found, f"no {name} in the page"
    return found.group(1)


def _engineer_token(client: TestClient) -> str:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return issue_token(settings, client_id="engineer", organisation_ods="X26", scopes=("ops",))


def _console_form(client: TestClient, form_token: str) -> dict[str, str]:
    return {"token": _engineer_token(client), "form_token": form_token, "next": "/console/"}


def _inbox_form(client: TestClient, form_token: str) -> dict[str, str]:
    return {
        "practice": "A81003",
        "username": "reception",
        "password": PASSWORD,
        "csrf_token": form_token,
    }


@dataclass(frozen=True)
class Page:
    """One web page: its cookies, its session table, its sign-in form and its home page."""

    name: str
    cookie: str
    login_cookie: str
    path: str
    home: str
    table: type[WebSession]
    form_field: str
    credentials: Callable[[TestClient, str], dict[str, str]]
    max_age: Callable[[Settings], int]

    def open_form(self, client: TestClient) -> str:
        """The sign-in form's token (its cookie goes into the client's jar)."""
        return _field(client.get(self.path + "/login").text, self.form_field)

    def submit(self, client: TestClient, form_token: str) -> httpx.Response:
        response: httpx.Response = client.post(
            self.path + "/login",
            data=self.credentials(client, form_token),
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return response

    def sign_in(self, client: TestClient) -> httpx.Response:
        return self.submit(client, self.open_form(client))

    def session_cookie(self, client: TestClient) -> str:
        raw: str | None = client.cookies.get(self.cookie)
        assert raw, f"no {self.cookie} cookie"
        return raw

    def rows(self, client: TestClient) -> list[str]:
        with _uow(client) as uow:
            return list(uow.session.scalars(select(self.table.id_hash)))

    def signed_in(self, client: TestClient) -> bool:
        response: httpx.Response = client.get(self.home, follow_redirects=False)
        return response.status_code == 200

    def sign_out(self, client: TestClient, csrf_token: str, **headers: str) -> int:
        response: httpx.Response = client.post(
            self.path + "/logout",
            data={"csrf_token": csrf_token},
            headers=headers,
            follow_redirects=False,
        )
        return response.status_code


CONSOLE = Page(
    "console",
    "liaison_console",
    "liaison_console_login",
    "/console",
    "/console/",
    ConsoleSession,
    "form_token",
    _console_form,
    lambda settings: settings.sessions.console_max_age_seconds,
)
INBOX = Page(
    "inbox",
    "liaison_inbox",
    "liaison_inbox_login",
    "/inbox",
    "/inbox",
    InboxSession,
    "csrf_token",
    _inbox_form,
    lambda settings: settings.sessions.inbox_max_age_seconds,
)


@pytest.fixture(params=[CONSOLE, INBOX], ids=lambda page: page.name)
def page(request: pytest.FixtureRequest) -> Page:
    chosen: Page = request.param
    return chosen


@pytest.fixture
def browser(api: TestClient) -> TestClient:
    """The app's client as a browser: no bearer token, an inbox account for A81003."""
    with _uow(api) as uow:
        write_practice(uow, "A81003", PracticeSettings(adapter="inbox"), source="api")
        uow.session.flush()
        ensure_inbox_user(uow, "A81003", "reception", hash_password(PASSWORD), replace=True)
        uow.commit()
    api.headers.pop("Authorization", None)
    return api


def _cookie_line(response: httpx.Response, name: str) -> str:
    lines = [
        line for line in response.headers.get_list("set-cookie") if line.startswith(f"{name}=")
    ]
    assert len(lines) == 1, lines
    return lines[0]


def _issued(response: httpx.Response, name: str) -> str:
    return _cookie_line(response, name).split(";", 1)[0].partition("=")[2]


def _attributes(line: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for part in line.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    return attributes


def test_signing_in_mints_a_new_session_and_deletes_the_one_the_browser_had(
    browser: TestClient, page: Page
) -> None:
    # The sign-in form open twice (two tabs), and signed in from each in turn.
    form_token = page.open_form(browser)
    login_cookie = browser.cookies[page.login_cookie]
    page.submit(browser, form_token)
    first = page.session_cookie(browser)
    browser.cookies.set(page.login_cookie, login_cookie, path=page.path)

    page.submit(browser, form_token)
    second = page.session_cookie(browser)

    assert second != first
    # Only the new session is left, stored as the digest of the cookie, never the cookie.
    assert page.rows(browser) == [digest(second)]
    browser.cookies.clear()
    browser.cookies.set(page.cookie, first, path=page.path)
    assert not page.signed_in(browser)


def test_a_session_id_chosen_before_sign_in_is_not_kept(browser: TestClient, page: Page) -> None:
    # Session fixation: a cookie planted by someone else must not become the session.
    planted = "chosen-by-an-attacker"
    browser.cookies.set(page.cookie, planted, path=page.path)

    issued = _issued(page.sign_in(browser), page.cookie)

    assert issued != planted
    assert page.rows(browser) == [digest(issued)]


def test_an_expired_session_is_refused(browser: TestClient, page: Page) -> None:
    page.sign_in(browser)
    assert page.signed_in(browser)
    with _uow(browser) as uow:
        uow.session.execute(
            update(page.table).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        uow.commit()

    response = browser.get(page.home, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith(page.path + "/login")


def test_a_form_with_another_sessions_token_is_refused_and_the_session_lives_on(
    browser: TestClient, page: Page
) -> None:
    page.sign_in(browser)
    home = browser.get(page.home)
    token = _field(home.text, "csrf_token")

    assert page.sign_out(browser, token[:-1] + ("A" if token[-1] != "A" else "B")) == 403
    assert page.sign_out(browser, "") == 403
    assert page.signed_in(browser)
    assert len(page.rows(browser)) == 1

    assert page.sign_out(browser, token) == 303
    assert page.rows(browser) == []
    assert not page.signed_in(browser)


def test_a_form_posted_from_another_site_is_refused_even_with_its_token(
    browser: TestClient, page: Page
) -> None:
    page.sign_in(browser)
    token = _field(browser.get(page.home).text, "csrf_token")

    assert page.sign_out(browser, token, origin="https://evil.example") == 403

    assert page.signed_in(browser)
    # From the page's own origin (as a browser sends it), the same form goes through.
    assert page.sign_out(browser, token, origin="http://testserver") == 303


def test_session_and_sign_in_cookies_are_http_only_strict_and_scoped_to_the_page(
    browser: TestClient, page: Page
) -> None:
    settings: Settings = browser.app.state.settings  # type: ignore[attr-defined]
    form = browser.get(page.path + "/login")
    login = _attributes(_cookie_line(form, page.login_cookie))
    signed_in = page.sign_in(browser)
    session = _attributes(_cookie_line(signed_in, page.cookie))

    for attributes in (login, session):
        assert "httponly" in attributes
        assert attributes["samesite"].lower() == "strict"
        assert attributes["path"] == page.path
        assert "secure" not in attributes  # served over plain http in this test
    assert session["max-age"] == str(page.max_age(settings))
    # Signing in retires the sign-in form's cookie.
    assert _attributes(_cookie_line(signed_in, page.login_cookie))["max-age"] == "0"


def test_cookies_are_secure_when_served_over_https(browser: TestClient, page: Page) -> None:
    settings: Settings = browser.app.state.settings  # type: ignore[attr-defined]
    browser.app.state.settings = settings.model_copy(  # type: ignore[attr-defined]
        update={
            "api": settings.api.model_copy(
                update={"public_base_url": "https://liaison.example.nhs.uk"}
            )
        }
    )

    form = browser.get(page.path + "/login")

    assert "secure" in _attributes(_cookie_line(form, page.login_cookie))


def test_an_empty_token_never_matches() -> None:
    assert not csrf_matches("", "")
    assert not csrf_matches("issued", "")
    assert not csrf_matches("issued", "other")
    assert csrf_matches("issued", "issued")
