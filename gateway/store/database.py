"""Engines and sessions for SQLite (embedded) and PostgreSQL (services)."""

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would otherwise open transactions lazily at the first write, so reads before
    # it see no snapshot and two workers could both apply the same status change. We take
    # over transaction control and begin with BEGIN IMMEDIATE (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    # WAL lets the API read while a worker writes; busy_timeout queues writers instead of
    # failing at once, which matters with several processes on one file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # One writer at a time, decided when the transaction starts: the embedded profile's
    # answer to SELECT ... FOR UPDATE. Others wait up to busy_timeout.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _json_text(value: Any) -> str:
    # The JSON columns (FHIR resources, payloads) through orjson rather than json.dumps: the
    # same JSON values several times faster (https://github.com/ijl/orjson#performance);
    # text outside ASCII is written as UTF-8 rather than \u escapes.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str) -> Engine:
    """Statement parameters (patients' details among them) never appear in a database
    error's text, so an exception logged anywhere cannot carry them (SQLAlchemy's
    `hide_parameters`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
            json_serializer=_json_text,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        # No server-side prepared statements: psycopg forgets them at every ROLLBACK and
        # then sends DEALLOCATE ALL (https://www.psycopg.org/psycopg3/docs/advanced/prepare.html),
        # and every read-only unit of work (the API's client lookup on each request) ends
        # with one, so they were re-prepared over and over at the cost of a round trip.
        connect_args={"prepare_threshold": None},
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        hide_parameters=True,
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
