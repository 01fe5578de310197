"""Guessing a practice inbox password: parallel guesses cannot outrun the lockout, and one
address cannot try account after account quickly. On PostgreSQL, where requests really do
run at the same time."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.practice_directory import (
    PracticeSettings,
    dev_directory,
    ensure_inbox_user,
    seed,
    write_practice,
)
from gateway.security.passwords import hash_password
from gateway.services import inbox_accounts
from gateway.services.inbox_accounts import MAX_FAILED_SIGN_INS, sign_in
from gateway.settings import ApiSettings, BrokerSettings, DatabaseSettings, Settings
from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.test_inbox import PASSWORD, _sign_in

GUESSES = 40


@pytest.fixture
def accounts(postgres_url: str, tmp_path: Path) -> Iterator[UnitOfWork]:
    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=postgres_url),
        broker=BrokerSettings(url="memory://"),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    factory = make_session_factory(engine)
    with UnitOfWork(factory) as uow:
        seed(uow, dev_directory(settings))
        write_practice(uow, "A81003", PracticeSettings(adapter="inbox"), source="api")
        uow.session.flush()
        ensure_inbox_user(uow, "A81003", "reception", hash_password(PASSWORD), replace=True)
        uow.commit()
    yield UnitOfWork(factory)
    engine.dispose()


def test_forty_parallel_wrong_passwords_lock_the_account_after_five(
    accounts: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = accounts._session_factory  # one factory for every thread
    real_checks: list[str] = []
    real_matches = inbox_accounts.password_matches

    # Only a check against the account's own hash comes here: the equal-cost check made for
    # a locked or unknown account goes through gateway.security.passwords.dummy_check.
    def counting(password_hash: str, password: str) -> bool:
        real_checks.append(password)
        return real_matches(password_hash, password)

    monkeypatch.setattr(inbox_accounts, "password_matches", counting)
    start = threading.Barrier(GUESSES)
    checked: list[bool] = []

    def guess() -> None:
        start.wait()
        with UnitOfWork(factory) as uow:
            result = sign_in(
                uow,
                ods_code="A81003",
                username="reception",
                password="not the password",
                now=datetime.now(UTC),
            )
            checked.append(result is None)

    threads = [threading.Thread(target=guess) for _ in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert checked == [True] * GUESSES

    with UnitOfWork(factory) as uow:
        user = uow.inbox.user("A81003", "reception")
        assert user is not None
        # Every guess was counted, none lost to a read-modify-write race...
        assert user.failed_sign_ins == GUESSES
        # ...and the account is locked: even the right password is refused now.
        assert user.locked_until is not None
        assert user.locked_until > datetime.now(UTC)
        # ...and only five guesses were ever checked against the account's password.
        assert len(real_checks) == MAX_FAILED_SIGN_INS
        assert (
            sign_in(
                uow,
                ods_code="A81003",
                username="reception",
                password=PASSWORD,
                now=datetime.now(UTC),
            )
            is None
        )


def test_a_lockout_that_has_lapsed_lets_the_right_password_in(accounts: UnitOfWork) -> None:
    factory = accounts._session_factory
    now = datetime.now(UTC)
    with UnitOfWork(factory) as uow:
        for _ in range(MAX_FAILED_SIGN_INS):
            sign_in(uow, ods_code="A81003", username="reception", password="wrong", now=now)
    later = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    with UnitOfWork(factory) as uow:
        account = sign_in(
            uow, ods_code="A81003", username="reception", password=PASSWORD, now=later
        )
        assert account is not None
        user = uow.inbox.user("A81003", "reception")
        assert user is not None
        assert user.failed_sign_ins == 0
        assert user.locked_until is None


def test_one_address_trying_many_accounts_is_slowed_to_the_per_minute_limit(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from gateway.api.app import create_app

    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/api.db"),
        broker=BrokerSettings(url="memory://"),
        api=ApiSettings(inbox_sign_in_rate_limit_per_minute=3),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
        write_practice(uow, "A81003", PracticeSettings(adapter="inbox"), source="api")
        uow.session.flush()
        ensure_inbox_user(uow, "A81003", "reception", hash_password(PASSWORD), replace=True)
        uow.commit()
    engine.dispose()
    with TestClient(create_app(settings)) as browser:
        answers = [_sign_in(browser, password=f"guess {n}") for n in range(3)]
        assert answers == [401, 401, 401]
        page = browser.get("/inbox/login")
        assert page.status_code == 200
        # The fourth attempt from the address is refused before any password is checked,
        # the right one too.
        assert _sign_in(browser) == 429


def test_signing_out_ends_the_session_even_for_a_copied_cookie(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from gateway.api.app import create_app

    settings = Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/api.db"),
        broker=BrokerSettings(url="memory://"),
        api=ApiSettings(public_base_url="https://liaison.example.nhs.uk"),
    )
    upgrade(settings.database.url)
    engine = make_engine(settings.database.url)
    with UnitOfWork(make_session_factory(engine)) as uow:
        seed(uow, dev_directory(settings))
        write_practice(uow, "A81003", PracticeSettings(adapter="inbox"), source="api")
        uow.session.flush()
        ensure_inbox_user(uow, "A81003", "reception", hash_password(PASSWORD), replace=True)
        uow.commit()
    engine.dispose()
    # The test client speaks https so that Secure cookies come back to it.
    with TestClient(create_app(settings), base_url="https://testserver") as browser:
        page = browser.get("/inbox/login")
        signed_in = browser.post(
            "/inbox/login",
            data={
                "practice": "A81003",
                "username": "reception",
                "password": PASSWORD,
                "csrf_token": page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0],
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        set_cookie = signed_in.headers["set-cookie"]
        assert "liaison_inbox=" in set_cookie
        # Served over HTTPS: the cookie is Secure, HttpOnly, SameSite=Strict, /inbox only.
        for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/inbox"):
            assert attribute.lower() in set_cookie.lower()
        stolen = browser.cookies.get("liaison_inbox")
        assert stolen
        listing = browser.get("/inbox")
        assert listing.status_code == 200
        token = listing.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert browser.post("/inbox/logout", data={"csrf_token": token}).status_code == 200

    with TestClient(create_app(settings), base_url="https://testserver") as thief:
        thief.cookies.set("liaison_inbox", stolen, path="/inbox")
        replayed = thief.get("/inbox", follow_redirects=False)
        assert replayed.status_code == 303
        assert replayed.headers["location"] == "/inbox/login"
