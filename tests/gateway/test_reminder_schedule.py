from datetime import date, datetime, time

import pytest

from gateway.domain.reminder_schedule import (
    GRACE,
    TRY_AGAIN,
    UK,
    Plan,
    ReminderSettings,
    due_now,
    out_of_quiet_hours,
    schedule,
    withdrawn_because,
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
            ("plan-supply-request", "practitioner", _at(date(2026, 3, 20))),
            ("follow-up-week-4", "practitioner", _at(date(2026, 4, 6))),
            ("follow-up-week-12", "practitioner", _at(date(2026, 6, 1))),
        ],
    ),
    (
        "nrt has no dose milestones",
        Plan(quit_date=date(2026, 3, 9), medicine="nrt", course_start=START),
        [
            ("plan-quit-date", "service-user", _at(date(2026, 3, 9))),
            ("follow-up-week-4", "practitioner", _at(date(2026, 4, 6))),
            ("follow-up-week-12", "practitioner", _at(date(2026, 6, 1))),
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
    assert not [k for k in without if k[1] == "named-person"]
    with_consent = _key(plan, ReminderSettings(copy_consent=True), has_copy=True)
    copies = [(e, at) for e, r, at in with_consent if r == "named-person"]
    mine = [(e, at) for e, r, at in with_consent if r == "service-user"]
    assert copies
    assert copies == mine


def test_opt_out_stops_service_user_reminders_but_not_practitioner_follow_ups() -> None:
    keys = _key(CASES[0][1], ReminderSettings(service_user_consent=False))
    assert {r for _, r, _ in keys} == {"practitioner"}


def test_the_practitioner_is_asked_for_the_next_supply_even_if_the_service_user_opted_out() -> None:
    plan = Plan(medicine="nrt", course_start=START, supply_days=28)
    keys = _key(plan, ReminderSettings(service_user_consent=False))
    assert keys == [("plan-supply-request", "practitioner", _at(date(2026, 3, 20)))]


def test_practitioner_turning_reminders_off_stops_everything() -> None:
    assert _key(CASES[0][1], ReminderSettings(enabled=False)) == []


def test_nothing_is_due_once_the_recommendation_has_ended() -> None:
    now = _at(date(2026, 3, 9))  # the quit date: its reminder is due
    plan = CASES[0][1]
    assert due_now(plan, ReminderSettings(), has_copy=False, now=now, ended=False)
    assert due_now(plan, ReminderSettings(), has_copy=False, now=now, ended=True) == []


def test_only_reminders_whose_time_has_come_are_due() -> None:
    now = _at(date(2026, 3, 5), 10)
    due = due_now(CASES[0][1], ReminderSettings(), has_copy=False, now=now, ended=False)
    # The course started three days earlier: past the grace, so only today's step is due.
    assert [d.event for d in due] == ["plan-dose-step-1"]


def test_a_reminder_found_within_the_grace_still_goes_and_one_later_does_not() -> None:
    plan = CASES[0][1]
    step = _at(date(2026, 3, 5))
    soon = due_now(plan, ReminderSettings(), has_copy=False, now=step + GRACE / 2, ended=False)
    late = due_now(plan, ReminderSettings(), has_copy=False, now=step + GRACE, ended=False)
    assert "plan-dose-step-1" in [d.event for d in soon]
    assert "plan-dose-step-1" not in [d.event for d in late]


@pytest.mark.parametrize(
    ("kind", "recipient", "settings", "expected"),
    [
        ("plan-quit-date", "service-user", ReminderSettings(), None),
        ("plan-quit-date", "service-user", ReminderSettings(enabled=False), "turned reminders off"),
        (
            "plan-quit-date",
            "service-user",
            ReminderSettings(kinds=frozenset({"appointment"})),
            "turned quit-date reminders off",
        ),
        (
            "plan-dose-step",
            "service-user",
            ReminderSettings(service_user_consent=False),
            "opted out",
        ),
        ("plan-quit-date", "named-person", ReminderSettings(copy_consent=False), "withdrew"),
        ("plan-quit-date", "named-person", ReminderSettings(copy_consent=True), None),
        ("follow-up-week", "practitioner", ReminderSettings(service_user_consent=False), None),
        ("ready-to-collect", "service-user", ReminderSettings(enabled=False), None),
    ],
)
def test_a_waiting_reminder_is_withdrawn_when_the_plan_no_longer_allows_it(
    kind: str, recipient: str, settings: ReminderSettings, expected: str | None
) -> None:
    reason = withdrawn_because(kind, recipient, settings)
    assert (reason is None) == (expected is None)
    assert expected is None or expected in str(reason)


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


def test_every_plan_reminder_has_private_wording_for_the_service_user_and_a_copy() -> None:
    from gateway.domain.audience import event_kind
    from gateway.domain.messages import denied_words
    from gateway.domain.reminder_wording import NAMED_PERSON, SERVICE_USER_PLAN

    due = schedule(CASES[0][1], ReminderSettings(copy_consent=True), has_copy=True)
    private = {event_kind(d.event) for d in due if d.recipient != "practitioner"}
    assert private <= set(SERVICE_USER_PLAN)
    assert private <= set(NAMED_PERSON)
    for kind, template in [*SERVICE_USER_PLAN.items(), *NAMED_PERSON.items()]:
        assert denied_words(template.subject + " " + template.body) == [], kind


def test_practitioner_follow_ups_have_their_own_words() -> None:
    from gateway.domain.audience import event_kind
    from gateway.domain.messages import PRACTITIONER
    from gateway.domain.reminder_wording import PRACTITIONER_PLAN

    due = schedule(CASES[0][1], ReminderSettings(), has_copy=False)
    practitioner = {event_kind(d.event) for d in due if d.recipient == "practitioner"}
    assert practitioner | {TRY_AGAIN} <= set(PRACTITIONER_PLAN) | set(PRACTITIONER)


@pytest.mark.parametrize("status", ["rejected", "expired", "did-not-attend"])
def test_practitioner_is_prompted_to_try_again_after_an_ending_without_prescription(
    status: str,
) -> None:
    from datetime import timedelta

    from gateway.domain.reminder_schedule import try_again_prompt
    from gateway.settings import Settings

    after = timedelta(seconds=Settings().reminders.try_again_prompt_after_seconds)
    ended = _at(START)
    prompt = try_again_prompt(status, ended_at=ended, after=after)
    assert prompt is not None
    assert (prompt.recipient, prompt.at) == ("practitioner", ended + timedelta(days=14))


def test_no_try_again_prompt_after_a_prescription_was_collected() -> None:
    from datetime import timedelta

    from gateway.domain.reminder_schedule import try_again_prompt

    assert try_again_prompt("collected", ended_at=_at(START), after=timedelta(days=1)) is None
