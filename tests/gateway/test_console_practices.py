"""The console's practices page reads what /ops/practices and /ops/practices/{ods}/stats
answer (gateway.services.practice_overview), in a number of statements that does not grow
with the directory."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, event

from gateway.practice_directory import settings_of, write_practice
from gateway.security.tokens import issue_token
from gateway.services.status_updates import StatusChange, apply_status
from gateway.settings import Settings
from gateway.store.models import Practice
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.test_console import _submit, console

__all__ = ["console"]


def _uow(api: TestClient) -> UnitOfWork:
    return UnitOfWork(api.app.state.session_factory)  # type: ignore[attr-defined]


@contextmanager
def _statements(api: TestClient) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs inside the block."""
    engine = api.app.state.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _only_y00001(api: TestClient) -> None:
    with _uow(api) as uow:
        uow.session.execute(delete(Practice).where(Practice.ods_code != "Y00001"))
        uow.commit()


def _ready_after(api: TestClient, ods: str, hours: float) -> str:
    """A request at `ods`, delivered two days ago and ready to collect `hours` later."""
    rec_id = _submit(api, ods)
    start = datetime.now(UTC) - timedelta(days=2)
    with _uow(api) as uow:
        for status, at in (
            ("delivered", start),
            ("accepted", start + timedelta(minutes=5)),
            ("prescription-issued", start + timedelta(minutes=10)),
            ("ready-to-collect", start + timedelta(hours=hours)),
        ):
            assert apply_status(uow, StatusChange(rec_id, status, source="poll"), now=at)
        uow.commit()
    return rec_id


def _grow_directory(api: TestClient, size: int) -> None:
    """Copies of Y00001 until the directory holds `size` practices, each new one with a
    request waiting and one ready to collect, so every per-practice figure has rows."""
    with _uow(api) as uow:
        template = settings_of(uow.practices.get("Y00001"))  # type: ignore[arg-type]
        have = len(uow.practices.list())
        added = [f"Q{n:05d}" for n in range(have, size)]
        for ods in added:
            write_practice(uow, ods, template, source="api")
        uow.commit()
    for ods in added:
        _submit(api, ods)
        _ready_after(api, ods, 3)


def _page_statements(api: TestClient) -> int:
    with _statements(api) as seen:
        page = api.get("/console/practices")
    assert page.status_code == 200
    return len(seen)


def test_the_practices_page_runs_as_many_statements_for_20_practices_as_for_2(
    console: TestClient,
) -> None:
    _only_y00001(console)
    _submit(console, "Y00001")
    _ready_after(console, "Y00001", 3)
    _grow_directory(console, 2)
    for_two = _page_statements(console)
    page = console.get("/console/practices")
    assert len(re.findall(r'<tr id="practice-', page.text)) == 2

    _grow_directory(console, 20)
    for_twenty = _page_statements(console)
    page = console.get("/console/practices")
    assert len(re.findall(r'<tr id="practice-', page.text)) == 20

    assert for_two == for_twenty, (for_two, for_twenty)


def _cells(page: str, ods: str) -> list[list[str]]:
    """The words in each cell of the practice's row."""
    row = re.search(rf'<tr id="practice-{ods}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {ods}"
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
    return [re.sub(r"<[^>]+>", " ", cell).split() for cell in cells]


def test_the_practices_page_shows_what_ops_answers_the_same_engineer(
    console: TestClient, settings: Settings
) -> None:
    """Ops clients see every organisation's practices and deliveries, by id and count only
    (tests/gateway/test_tenancy.py): there is no organisation to narrow to. What the console
    shows an engineer is what /ops answers that engineer's client, from the same service."""
    with _uow(console) as uow:
        practice = uow.practices.get("Y00002")
        assert practice is not None
        practice.breaker_state, practice.breaker_failures = "open", 3
        practice.breaker_opened_at = datetime.now(UTC) - timedelta(hours=1)
        uow.commit()
    for hours in (1, 5):
        _ready_after(console, "Y00001", hours)  # submitted by organisation RX3
    _submit(console, "Y00002")
    engineer = issue_token(settings, client_id="engineer", organisation_ods="X26", scopes=("ops",))
    ops = {"Authorization": f"Bearer {engineer}"}

    page = console.get("/console/practices").text
    listed = console.get("/ops/practices", headers=ops).json()["practices"]

    assert re.findall(r'<tr id="practice-([A-Z0-9]+)"', page) == [p["ods_code"] for p in listed]
    for practice in listed:
        ods = practice["ods_code"]
        stats = console.get(f"/ops/practices/{ods}/stats", headers=ops).json()
        cells = _cells(page, ods)
        assert cells[2][0] == practice["health"]["breaker"]["state"], ods
        assert cells[7] == [str(stats["ready"])], ods
    assert console.get("/ops/practices/Y00001/stats", headers=ops).json()["ready"] == 2
    assert _cells(page, "Y00001")[8] == ["3.0", "h"]  # the median of 1 h and 5 h
    assert _cells(page, "Y00002")[5] == ["1"]  # waiting


def test_an_unknown_practice_s_stats_answer_as_before(api: TestClient, settings: Settings) -> None:
    engineer = issue_token(settings, client_id="engineer", organisation_ods="X26", scopes=("ops",))
    response = api.get(
        "/ops/practices/z99999/stats", headers={"Authorization": f"Bearer {engineer}"}
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    detail = "no GP practice Z99999 in the practice directory"
    assert response.json() == {
        "type": "about:blank",
        "title": detail,
        "status": 404,
        "detail": detail,
    }
