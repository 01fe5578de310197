"""Insert a row unless its unique key is taken, in one statement.

`INSERT ... ON CONFLICT (key) DO NOTHING RETURNING ...` on PostgreSQL and SQLite (3.35+):
the database's unique index still decides between racing writers, but there is no
SELECT before the insert and no SAVEPOINT around it.
PostgreSQL: https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT
SQLite: https://www.sqlite.org/lang_upsert.html
"""

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Executable, Table
from sqlalchemy import inspect as inspect_mapper
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached


def insert_once(
    session: Session,
    instance: Any,
    *,
    key: Sequence[str],
    where: ColumnElement[bool] | None = None,
) -> bool:
    """Insert the transient `instance` unless a row with the same `key` columns exists
    (`where`: the predicate of a partial unique index). True if it was inserted; then
    `instance` is persistent in `session`, as after `add` and `flush`. False leaves it
    transient and the session unchanged."""
    mapper = inspect_mapper(type(instance))
    attrs = mapper.column_attrs
    # Only what the caller set: the columns' own defaults fill the rest, as a flush would.
    values = {a.key: instance.__dict__[a.key] for a in attrs if a.key in instance.__dict__}
    dialect = session.get_bind().dialect.name
    if where is None:
        # Built once per model and set of columns, on the table, the values bound at
        # execution: building and keying the statement anew was most of the cost of a
        # notification's insert.
        cached = _statement(mapper, tuple(values), tuple(key), dialect)
        params = {attrs[name].columns[0].key: value for name, value in values.items()}
        row = session.execute(cached, params).first()
    else:
        row = session.execute(_build(type(instance), key, dialect, where, values)).first()
    if row is None:
        return False
    for attr, value in zip(attrs, row, strict=True):
        if attr.key not in instance.__dict__:
            setattr(instance, attr.key, value)
    # The row is in the database already: attach the object as loaded, not as new, so the
    # session tracks later changes as UPDATEs (SQLAlchemy's documented use of this function).
    make_transient_to_detached(instance)
    session.add(instance)
    return True


def _build(
    model: type[Any], key: Sequence[str], dialect: str, where: ColumnElement[bool], values: Any
) -> Executable:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(model)
        .values(values)
        .on_conflict_do_nothing(index_elements=list(key), index_where=where)
        # Every column back, defaults included, so the object needs no reload afterwards.
        .returning(*(getattr(model, a.key) for a in inspect_mapper(model).column_attrs))
    )


@lru_cache(maxsize=64)
def _statement(
    mapper: Mapper[Any], columns: tuple[str, ...], key: tuple[str, ...], dialect: str
) -> Executable:
    # `columns` is only part of the cache key: SQLAlchemy compiles for the columns bound.
    del columns
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = mapper.local_table
    assert isinstance(table, Table)
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(key))
        # Every column back in the mapper's order, defaults included (as `_build`).
        .returning(*(attr.columns[0] for attr in mapper.column_attrs))
    )
