"""A pharmacy's name, typed by practice staff or put on a Task by a GP system, reaches the
service user's phone: a link, a phone number or an email in it is refused at the inbox and
never repeated in a text; and the inbox page's title names no patient."""

import pytest
from fastapi.testclient import TestClient

from gateway.domain import pharmacy_names
from gateway.domain.messages import compose
from tests.gateway.test_inbox import _csrf, _delivered, _sign_in, _status, inbox  # noqa: F401

HOSTILE = [
    "https://nhs-prescriptions.example/pay",
    "www.collect-now.example",
    "Boots, call 0113 496 0000",
    "Ring +44 7700 900123",
    "pay@collect.example",
    "Riverside Pharmacy" + " x" * 60,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_pharmacy_name_with_a_link_number_or_email_is_no_name(name: str) -> None:
    assert pharmacy_names.problem(name) is not None
    assert pharmacy_names.sayable(name) is None


@pytest.mark.parametrize("name", ["Riverside Pharmacy", "Boots, 12 High Street", "Lloyds (Leeds)"])
def test_ordinary_pharmacy_names_are_said(name: str) -> None:
    assert pharmacy_names.sayable(name) == name


@pytest.mark.parametrize("name", HOSTILE)
def test_a_text_to_the_service_user_never_repeats_a_hostile_pharmacy_name(name: str) -> None:
    wording = compose(
        event="ready-to-collect",
        recipient="service-user",
        recommendation_id="r-1",
        detail=None,
        payload={},
        product_name="Varenicline",
        pharmacy=name,
    )
    assert name not in wording.body
    assert "example" not in wording.body
    assert "0113" not in wording.body
    assert "your usual pharmacy" in wording.body


def test_the_inbox_refuses_a_link_as_the_pharmacy_and_changes_nothing(
    inbox: TestClient,  # noqa: F811
) -> None:
    rec_id = _delivered(inbox, "A81003", "pharmacy-link")
    assert _sign_in(inbox) == 303
    page = inbox.get(f"/inbox/requests/{rec_id}")
    refused = inbox.post(
        f"/inbox/requests/{rec_id}",
        data={
            "action": "issued",
            "pharmacy": "https://nhs-prescriptions.example/pay",
            "csrf_token": _csrf(page.text),
        },
    )
    assert refused.status_code == 422
    assert "not a web address" in refused.text
    assert _status(inbox, rec_id) == "delivered"


def test_the_inbox_request_page_title_names_the_request_not_the_patient(
    inbox: TestClient,  # noqa: F811
) -> None:
    rec_id = _delivered(inbox, "A81003", "title-private")
    assert _sign_in(inbox) == 303
    page = inbox.get(f"/inbox/requests/{rec_id}").text
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert rec_id in title
    assert "Sam" not in title
    assert "Taylor" not in title
