"""A migrated SQLite store holding one practice and one recommendation ("r1"), for tests of
the tables that hang off a recommendation (leased jobs, reminder plans)."""

from datetime import datetime
from pathlib import Path

from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Practice, Recommendation
from gateway.store.unit_of_work import UnitOfWork


def store_with_one_recommendation(tmp_path: Path, *, now: datetime) -> UnitOfWork:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    uow = UnitOfWork(make_session_factory(make_engine(url)))
    uow.__enter__()
    uow.session.add(Practice(ods_code="A12345", adapter="fhir"))
    uow.session.add(
        Recommendation(
            id="r1",
            organisation_ods="ORG1",
            client_id="c1",
            practitioner_id="p1",
            practice_ods="A12345",
            product="varenicline",
            status="received",
            payload={},
            created_at=now,
            updated_at=now,
        )
    )
    uow.session.flush()
    return uow
