"""Message wording: plain language, and nothing a service user's text must not say."""

import re

import pytest

from fhir_profiles.catalogue import CATALOGUE
from gateway.cli import sample_recommendation
from gateway.domain.audience import AUDIENCE
from gateway.domain.messages import CARE_TEAM, PRACTITIONER, SERVICE_USER, compose, denied_words
from gateway.domain.reminder_wording import NAMED_PERSON, PRACTITIONER_PLAN, SERVICE_USER_PLAN

# Built here, independently of messages.DENY_LIST, from what a stranger reading the text
# must not learn: the medicine (every word of every catalogue name), smoking, mental
# health, a diagnosis.
_CATALOGUE_WORDS = {
    word
    for product in CATALOGUE.values()
    for word in re.findall(r"[a-z]{4,}", f"{product.name} {product.form}".lower())
} - {"with", "dose", "hours", "doses", "release", "modified", "tablets", "tablet"}
_FORBIDDEN = sorted(
    _CATALOGUE_WORDS
    | {
        "tablet",
        "smoking",
        "smoke",
        "cigarette",
        "tobacco",
        "nicotine",
        "vaping",
        "quit",
        "stop-smoking",
        "cessation",
        "varenicline",
        "champix",
        "bupropion",
        "zyban",
        "nrt",
        "mental",
        "psychiatric",
        "psychosis",
        "schizophrenia",
        "bipolar",
        "depression",
        "diagnosis",
        "illness",
        "clozapine",
        "olanzapine",
        "antipsychotic",
    }
)
_PHARMACIES = [None, "Boots, 1 High Street", "Stop Smoking Pharmacy", "Nicotine-Free Chemist"]


def _forbidden_in(text: str) -> list[str]:
    lowered = text.lower()
    return [word for word in _FORBIDDEN if re.search(rf"\b{re.escape(word)}", lowered)]


def _service_user_events() -> list[str]:
    kinds = [kind for kind, who in AUDIENCE.items() if "service-user" in who]
    # Numbered repeats and an event with no template of its own (the generic fallback).
    return [*kinds, "collection-reminder-2", "rejected", "some-future-event"]


@pytest.mark.parametrize("event", _service_user_events())
@pytest.mark.parametrize("product", sorted(CATALOGUE))
@pytest.mark.parametrize("pharmacy", _PHARMACIES)
@pytest.mark.parametrize("recipient", ["service-user", "named-person"])
def test_no_service_user_message_names_a_medicine_smoking_or_mental_health(
    event: str, product: str, pharmacy: str | None, recipient: str
) -> None:
    payload = sample_recommendation("Y00001")
    payload["medication"]["product"] = product
    wording = compose(
        event=event,
        recipient=recipient,
        recommendation_id="rec-1",
        detail="Rejected: patient has schizophrenia and smokes 20 a day",
        payload=payload,
        product_name=CATALOGUE[product].name,
        pharmacy=pharmacy,
    )
    text = f"{wording.subject}\n{wording.body}"
    assert _forbidden_in(text) == [], text
    assert denied_words(text) == [], text
    # No identifiers or the practice's free text either.
    assert "rec-1" not in text
    assert "9434765919" not in text
    assert "Taylor" not in text


def test_every_service_user_template_is_checked_and_short() -> None:
    private = [*SERVICE_USER.items(), *SERVICE_USER_PLAN.items(), *NAMED_PERSON.items()]
    for kind, template in private:
        assert _forbidden_in(template.subject + " " + template.body) == [], kind
        # Two SMS fragments at most once the pharmacy's name and the practice's number are in.
        rendered = template.body.format(
            where=" at a pharmacy with a long name, High St",
            phone=" on 0113 496 0001",
            when="Wednesday 30 December 2026 at 11:45",
            place="Riverside Surgery, 1 Station Road, Leeds, LS1 1AA",
        )
        assert len(rendered) <= 306, kind


def test_a_pharmacy_name_that_would_give_it_away_is_left_out() -> None:
    wording = compose(
        event="ready-to-collect",
        recipient="service-user",
        recommendation_id="rec-1",
        detail=None,
        payload=sample_recommendation("Y00001"),
        product_name="Varenicline 1mg tablets",
        pharmacy="Stop Smoking Pharmacy",
    )
    assert "your usual pharmacy" in wording.body
    assert "Pharmacy" not in wording.body.replace("your usual pharmacy", "")


def test_service_users_are_told_where_to_collect_when_the_pharmacy_is_known() -> None:
    wording = compose(
        event="ready-to-collect",
        recipient="service-user",
        recommendation_id="rec-1",
        detail=None,
        payload=sample_recommendation("Y00001"),
        product_name="Varenicline 1mg tablets",
        pharmacy="Boots, 1 High Street",
    )
    assert wording.body.startswith("Hello, your prescription is ready to collect at Boots")


def test_every_practitioner_and_care_team_event_has_its_own_plain_words() -> None:
    for kind, who in AUDIENCE.items():
        if "practitioner" in who:
            assert kind in PRACTITIONER or kind in PRACTITIONER_PLAN, kind
        if "named-person" in who:
            assert kind in NAMED_PERSON, kind
        if "care-team" in who:
            assert kind in CARE_TEAM, kind


def test_the_practitioner_hears_the_practices_reason_and_the_chase_up_number() -> None:
    payload = sample_recommendation("Y00002")
    rejected = compose(
        event="rejected",
        recipient="practitioner",
        recommendation_id="rec-9",
        detail="Please book a review with the practice nurse first",
        payload=payload,
        product_name="Varenicline 1mg tablets",
        pharmacy=None,
    )
    assert rejected.subject == "GP practice declined your recommendation"
    assert "Their reason: Please book a review with the practice nurse first" in rejected.body
    assert "Y00002" in rejected.body
    assert "rec-9" in rejected.body
    chased = compose(
        event="chase-up-2",
        recipient="practitioner",
        recommendation_id="rec-9",
        detail=None,
        payload=payload,
        product_name="Varenicline 1mg tablets",
        pharmacy=None,
    )
    assert "chase-up 2" in chased.body
    # Practitioners' email names no service user either: the reference is enough.
    assert "Taylor" not in rejected.body + chased.body
