"""A recommendation's reminder plan survives a round trip through the migrated store, and
setting it again replaces the one row rather than adding a second."""

from datetime import UTC, date, datetime
from pathlib import Path

from gateway.store.database import make_engine, make_session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import Practice, Recommendation
from gateway.store.reminder_models import ReminderPlan
from gateway.store.unit_of_work import UnitOfWork

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _store(tmp_path: Path) -> UnitOfWork:
    url = f"sqlite:///{tmp_path / 'plans.db'}"
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
            created_at=NOW,
            updated_at=NOW,
        )
    )
    uow.session.flush()
    return uow


def test_a_plan_is_kept_and_setting_it_again_replaces_it(tmp_path: Path) -> None:
    uow = _store(tmp_path)
    uow.reminder_plans.put(
        ReminderPlan(
            recommendation_id="r1", quit_date=date(2026, 3, 9), kinds={"kinds": ["quit-date"]}
        )
    )
    uow.session.flush()
    uow.reminder_plans.put(
        ReminderPlan(recommendation_id="r1", quit_date=date(2026, 3, 16), enabled=False, kinds={})
    )
    uow.session.flush()
    uow.session.expire_all()
    plan = uow.reminder_plans.get("r1")
    assert plan is not None
    assert plan.quit_date == date(2026, 3, 16)
    assert plan.enabled is False
    assert plan.morning == "09:00"
    assert uow.reminder_plans.enabled() == []
    uow.__exit__(None, None, None)
