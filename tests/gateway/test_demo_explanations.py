"""The one-sentence explanation of each message (API `explanation`, `liaison demo`, the
practitioner's email): pure wording, UK times."""

from datetime import datetime, time, timedelta

import pytest

from gateway.domain.audience import UK, QuietHours
from gateway.domain.explanations import MessageState, explain, told_service_user
from gateway.domain.messages import compose, denied_words

EVENING = datetime(2026, 11, 30, 22, 30, tzinfo=UK)
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UK)
QUIET = QuietHours(time(21), time(8))
MORNING = datetime(2026, 12, 1, 8, 0, tzinfo=UK)


def _sms(
    status: str = "pending",
    *,
    not_before: datetime | None = None,
    failed_before: bool = False,
    reason: str | None = None,
) -> MessageState:
    return MessageState(
        "service-user",
        "sms",
        status,
        not_before=not_before,
        reason=reason,
        failed_before=failed_before,
    )


@pytest.mark.parametrize("not_before", [MORNING, None])
def test_a_text_held_by_quiet_hours_says_until_when(not_before: datetime | None) -> None:
    # None: no worker has picked it up yet; it will be held the moment one does.
    said = explain(_sms(not_before=not_before), now=EVENING, quiet=QUIET)
    assert said == "SMS to the service user held until 08:00 (quiet hours)"


def test_in_summer_the_hold_is_still_eight_uk_time() -> None:
    june = datetime(2026, 6, 1, 23, 0, tzinfo=UK)
    said = explain(_sms(), now=june, quiet=QUIET)
    assert said == "SMS to the service user held until 08:00 (quiet hours)"


def test_a_text_in_the_day_is_being_sent_not_held() -> None:
    assert explain(_sms(), now=NOON, quiet=QUIET) == "SMS to the service user being sent"


def test_a_retry_is_not_called_quiet_hours() -> None:
    state = _sms(not_before=NOON + timedelta(minutes=5), failed_before=True)
    said = explain(state, now=NOON, quiet=QUIET)
    assert said == "SMS to the service user not sent yet: the last try failed, next try at 12:05"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            MessageState("practitioner", "email", "sent", sent_at=EVENING),
            "Email to the practitioner sent at 22:30",
        ),
        (
            MessageState(
                "service-user", "sms", "suppressed", reason="service user did not consent"
            ),
            "SMS to the service user not sent: service user did not consent",
        ),
        (
            MessageState("practitioner", "email", "held", not_before=MORNING + timedelta(hours=9)),
            "Email to the practitioner held for the practitioner's daily summary at 17:00",
        ),
        (
            MessageState("care-team", "email", "failed", member=1),
            "Email to care team member 2 could not be sent; the integration team can see why",
        ),
        (
            MessageState("case-management", "webhook", "sent", sent_at=NOON),
            "Webhook to the case-management app sent at 12:00",
        ),
    ],
)
def test_each_state_reads_as_a_sentence(state: MessageState, expected: str) -> None:
    assert explain(state, now=EVENING, quiet=QUIET) == expected


def test_the_practitioner_is_not_told_the_service_user_knows_while_the_text_waits() -> None:
    told = told_service_user("ready-to-collect", _sms(), now=EVENING, quiet=QUIET)
    assert told == (
        "SMS to the service user held until 08:00 (quiet hours): they have not been told yet."
    )
    sent = told_service_user("ready-to-collect", _sms("sent"), now=EVENING, quiet=QUIET)
    assert sent == "The service user has been told by SMS."
    refused = _sms("suppressed", reason="service user did not consent")
    assert told_service_user("appointment-needed", refused, now=NOON, quiet=QUIET) == (
        "The service user has not been sent a message (service user did not consent)."
    )
    # An event the service user hears nothing about keeps its own words.
    assert told_service_user("delivered", _sms(), now=NOON, quiet=QUIET) is None


def _email(told: str | None) -> str:
    return compose(
        event="ready-to-collect",
        recipient="practitioner",
        recommendation_id="rec-1",
        detail=None,
        payload={"gp_practice": {"ods_code": "Y00001"}},
        product_name="Varenicline 1 mg tablets",
        pharmacy="Boots",
        told=told,
    ).body


def test_the_practitioner_email_carries_the_sentence() -> None:
    held = told_service_user("ready-to-collect", _sms(), now=EVENING, quiet=QUIET)
    body = _email(held)
    assert "held until 08:00 (quiet hours): they have not been told yet." in body
    assert "has been told" not in body
    # Not knowing (an old caller): the usual words, hedged as before.
    assert "The service user has been told (if they agreed to messages)." in _email(None)


def test_explanations_say_nothing_a_service_user_must_not_read() -> None:
    for status in ("pending", "sent", "failed", "suppressed", "superseded"):
        assert denied_words(explain(_sms(status), now=EVENING, quiet=QUIET)) == []
