"""A recommendation's reminder plan survives a round trip through the migrated store, and
setting it again replaces the one row rather than adding a second."""

from datetime import UTC, date, datetime
from pathlib import Path

from gateway.store.reminder_models import ReminderPlan
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.store_samples import store_with_one_recommendation

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _store(tmp_path: Path) -> UnitOfWork:
    return store_with_one_recommendation(tmp_path, now=NOW)


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
