"""Where the log redactor learns names, and what it never touches: an unauthenticated body
teaches it nothing (so it can neither blind log lines nor push a real name out), an
authenticated body teaches it a few short names at most, and the structural fields of a log
line (client id, route, status...) are written as Liaison set them."""

import io
import sqlite3
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from gateway.cli import sample_recommendation
from gateway.logging import get_logger
from gateway.security.redaction import known_names, redact_fields, remember_names_in
from gateway.store.database import make_engine
from tests.gateway.test_logging import _parsed, log_lines

__all__ = ["log_lines"]  # the fixture, shared with test_logging

ANONYMOUS = {"Authorization": ""}


@pytest.fixture(autouse=True)
def no_names_yet() -> Iterator[None]:
    known_names.clear()
    yield
    known_names.clear()


def _access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in _parsed(stream) if line["logger"] == "liaison.access"]


def _flood_words(count: int, start: int = 0) -> list[str]:
    """`count` distinct name-like words (letters only)."""
    letters = string.ascii_lowercase
    words = []
    for n in range(start, start + count):
        word = ""
        for _ in range(4):
            n, digit = divmod(n, 26)
            word += letters[digit]
        words.append("Zq" + word)
    return words


def test_an_unauthenticated_body_cannot_blind_log_lines(
    api: TestClient, log_lines: io.StringIO
) -> None:
    refused = api.post(
        "/v1/gp-callbacks/Y00001", json={"name": "demo-app recommendations"}, headers=ANONYMOUS
    )
    assert refused.status_code == 401

    assert api.get("/v1/recommendations").status_code == 200
    get_logger("liaison.test").info("listed demo-app recommendations")

    last = _access_lines(log_lines)[-1]
    assert last["client_id"] == "demo-app"
    assert last["route"] == "/v1/recommendations"
    [mine] = [line for line in _parsed(log_lines) if line["logger"] == "liaison.test"]
    assert mine["event"] == "listed demo-app recommendations"


def test_structural_fields_stay_readable_whatever_names_are_known(
    api: TestClient, log_lines: io.StringIO
) -> None:
    payload = sample_recommendation("Y00001")
    payload["service_user"]["name"] = {"given": "demo-app", "family": "Recommendations"}
    assert api.post("/v1/recommendations", json=payload).status_code == 202

    assert api.get("/v1/recommendations").status_code == 200

    last = _access_lines(log_lines)[-1]
    assert (last["client_id"], last["route"], last["status"]) == (
        "demo-app",
        "/v1/recommendations",
        200,
    )
    # Free text is still cleaned of that (odd) name.
    assert redact_fields({"event": "no GP for demo-app"})["event"] == "no GP for [name]"


def test_large_bodies_cannot_push_a_real_name_out(api: TestClient, log_lines: io.StringIO) -> None:
    payload = sample_recommendation("Y00001")
    payload["service_user"]["name"] = {"given": "Branwen", "family": "Kittow"}
    assert api.post("/v1/recommendations", json=payload).status_code == 202

    # Bodies just under the size limit, full of name-like words: anonymous ones, and an
    # authenticated caller's refused ones (one long name, or a great many short ones).
    for batch in range(8):
        words = _flood_words(2_000, start=batch * 2_000)
        one_long = {"name": " ".join(words)}
        many_short = {"service_user": {"name": {"given": words[:1_500], "family": "x"}}}
        for body, headers in (
            (one_long, ANONYMOUS),
            (many_short, ANONYMOUS),
            (one_long, {}),
            (many_short, {}),
        ):
            answered = api.post("/v1/recommendations", json=body, headers=headers)
            assert answered.status_code in (401, 413, 422), answered.status_code
    get_logger("liaison.test").error("could not place Branwen Kittow")

    text = log_lines.getvalue()
    assert "Branwen" not in text
    assert "Kittow" not in text


def test_unusual_method_tokens_are_not_logged(api: TestClient, log_lines: io.StringIO) -> None:
    api.request("SAMTAYLOR", "/healthz")
    assert _access_lines(log_lines)[-1]["method"] == "other"
    assert "SAMTAYLOR" not in log_lines.getvalue()


def test_database_errors_never_quote_the_values_written(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/errors.db")
    people = Table("people", MetaData(), Column("nhs_number", String, primary_key=True))
    people.create(engine)
    with engine.begin() as connection:
        connection.execute(insert(people).values(nhs_number="9434765919"))
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(insert(people).values(nhs_number="9434765919"))
    assert isinstance(raised.value.orig, sqlite3.IntegrityError)
    assert "9434765919" not in str(raised.value)
    engine.dispose()


def test_stored_names_are_still_redacted_everywhere_else() -> None:
    remember_names_in({"service_user": {"name": {"given": "Morwenna", "family": "Treloar"}}})
    fields = redact_fields(
        {"event": "Morwenna Treloar not found", "client_id": "demo-app", "status": 404}
    )
    assert fields == {
        "event": "[name] [name] not found",
        "client_id": "demo-app",
        "status": 404,
    }


def test_one_authenticated_body_teaches_a_few_short_names_at_most() -> None:
    long_name = "Zq" + "y" * 199  # longer than any name field allows
    words = _flood_words(500)
    known_names.remember_from_request([long_name, " ".join(words), *words, "Morwenna"])
    assert long_name not in known_names
    assert [w for w in words if w in known_names] == words[:32]
    assert "Morwenna" not in known_names  # past the cap
