from datetime import date, datetime, time

import pytest

from gateway.domain.reminder_schedule import (
    UK,
    Plan,
    ReminderSettings,
    due_now,
    out_of_quiet_hours,
    schedule,
)

START = date(2026, 3, 2)
APPOINTMENT = datetime(2026, 3, 10, 14, 30, tzinfo=UK)


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UK)


CASES = [
    (
        "varenicline titration with quit date, appointment and supply",
        Plan(
            quit_date=date(2026, 3, 9),
            medicine="varenicline",
            course_start=START,
            supply_days=28,
            appointment_at=APPOINTMENT,
        ),
        [
            ("plan-course-start", "service-user", _at(date(2026, 3, 2))),
            ("plan-dose-step-1", "service-user", _at(date(2026, 3, 5))),
            ("plan-dose-step-2", "service-user", _at(date(2026, 3, 9))),
            ("plan-quit-date", "service-user", _at(date(2026, 3, 9))),
            ("plan-appointment-day-before", "service-user", _at(date(2026, 3, 9))),
            ("plan-appointment-morning", "service-user", _at(date(2026, 3, 10))),
            ("plan-supply-ending", "service-user", _at(date(2026, 3, 23))),
            ("plan-supply-request", "practitioner", _at(date(2026, 3, 23))),
            ("follow-up-4-weeks", "practitioner", _at(date(2026, 4, 6))),
            ("follow-up-12-weeks", "practitioner", _at(date(2026, 6, 1))),
        ],
    ),
    (
        "nrt has no dose milestones",
        Plan(quit_date=date(2026, 3, 9), medicine="nrt", course_start=START),
        [
            ("plan-quit-date", "service-user", _at(date(2026, 3, 9))),
            ("follow-up-4-weeks", "practitioner", _at(date(2026, 4, 6))),
            ("follow-up-12-weeks", "practitioner", _at(date(2026, 6, 1))),
        ],
    ),
    (
        "bupropion with a short supply warns on its first day",
        Plan(medicine="bupropion", course_start=START, supply_days=5),
        [
            ("plan-supply-ending", "service-user", _at(START)),
            ("plan-supply-request", "practitioner", _at(START)),
        ],
    ),
    ("an empty plan schedules nothing", Plan(), []),
]


def _key(
    plan: Plan, settings: ReminderSettings, has_copy: bool = False
) -> list[tuple[str, str, datetime]]:
    return [(d.event, d.recipient, d.at) for d in schedule(plan, settings, has_copy=has_copy)]


@pytest.mark.parametrize(("name", "plan", "expected"), CASES, ids=[c[0] for c in CASES])
def test_schedule_follows_the_plan(
    name: str, plan: Plan, expected: list[tuple[str, str, datetime]]
) -> None:
    assert sorted(_key(plan, ReminderSettings())) == sorted(expected)


def test_every_event_key_is_unique_per_recipient() -> None:
    plan = CASES[0][1]
    keys = _key(plan, ReminderSettings(copy_consent=True), has_copy=True)
    assert len({(e, r) for e, r, _ in keys}) == len(keys)


def test_named_person_gets_copies_only_with_consent() -> None:
    plan = CASES[0][1]
    without = _key(plan, ReminderSettings(copy_consent=False), has_copy=True)
    assert not [k for k in without if k[1] == "copy"]
    with_consent = _key(plan, ReminderSettings(copy_consent=True), has_copy=True)
    copies = [(e, at) for e, r, at in with_consent if r == "copy"]
    mine = [(e, at) for e, r, at in with_consent if r == "service-user"]
    assert copies
    assert copies == mine


def test_opt_out_stops_service_user_reminders_but_not_practitioner_follow_ups() -> None:
    keys = _key(CASES[0][1], ReminderSettings(service_user_consent=False))
    assert {r for _, r, _ in keys} == {"practitioner"}


def test_practitioner_turning_reminders_off_stops_everything() -> None:
    assert _key(CASES[0][1], ReminderSettings(enabled=False)) == []


def test_nothing_is_due_once_the_recommendation_has_ended() -> None:
    now = datetime(2026, 12, 1, tzinfo=UK)
    plan = CASES[0][1]
    assert due_now(plan, ReminderSettings(), has_copy=False, now=now, ended=False)
    assert due_now(plan, ReminderSettings(), has_copy=False, now=now, ended=True) == []


def test_only_reminders_whose_time_has_come_are_due() -> None:
    now = _at(date(2026, 3, 5), 10)
    due = due_now(CASES[0][1], ReminderSettings(), has_copy=False, now=now, ended=False)
    assert [d.event for d in due] == ["plan-course-start", "plan-dose-step-1"]


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (_at(START, 22), _at(date(2026, 3, 3), 8)),
        (_at(START, 3), _at(START, 8)),
        (_at(START, 12), _at(START, 12)),
    ],
)
def test_reminders_never_fall_in_quiet_hours(local: datetime, expected: datetime) -> None:
    assert out_of_quiet_hours(local, ReminderSettings()) == expected


def test_a_morning_set_inside_quiet_hours_moves_to_their_end() -> None:
    settings = ReminderSettings(morning=time(6, 0))
    keys = _key(Plan(quit_date=START), settings)
    assert ("plan-quit-date", "service-user", _at(START, 8)) in keys


def test_every_plan_reminder_has_private_wording() -> None:
    from gateway.domain.messages import denied_words
    from gateway.domain.reminder_wording import PLAN_REMINDER

    events = {d.event for d in schedule(CASES[0][1], ReminderSettings(), has_copy=False)}
    assert {e for e in events if e.startswith("plan-") and e != "plan-supply-request"} <= set(
        PLAN_REMINDER
    )
    for kind, template in PLAN_REMINDER.items():
        assert denied_words(template.subject + " " + template.body) == [], kind


@pytest.mark.parametrize("status", ["rejected", "expired", "did-not-attend"])
def test_practitioner_is_prompted_to_try_again_after_an_ending_without_prescription(
    status: str,
) -> None:
    from datetime import timedelta

    from gateway.domain.reminder_schedule import try_again_prompt
    from gateway.settings import Settings

    after = timedelta(seconds=Settings().try_again_prompt_after_seconds)
    ended = _at(START)
    prompt = try_again_prompt(status, ended_at=ended, after=after)
    assert prompt is not None
    assert (prompt.recipient, prompt.at) == ("practitioner", ended + timedelta(days=14))


def test_no_try_again_prompt_after_a_prescription_was_collected() -> None:
    from datetime import timedelta

    from gateway.domain.reminder_schedule import try_again_prompt

    assert try_again_prompt("collected", ended_at=_at(START), after=timedelta(days=1)) is None
