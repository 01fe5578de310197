"""Prescription status as NHS England sends it: a pharmacy's Task shaped as the Prescription
Status Update API defines it (no Liaison identifier; the prescription order number, the NHS
number and the pharmacy's ODS code) moves the right request on, and only the right one."""

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.cli import sample_recommendation
from gateway.domain.messages import compose, denied_words
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.test_callbacks import SECRETS, _delivered, _post, practices  # noqa: F401

# NHS England's own example, trimmed to the Task: eps-prescription-status-update-api,
# packages/specification/examples/request-ready-to-collect.json (commit 6b16f4fef). Its
# businessStatus is "Ready to collect", where the code system spells "Ready to Collect".
PSU_EXAMPLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "fullUrl": "urn:uuid:4d70678c-81e4-4ff4-8c67-17596fd0aa46",
            "resource": {
                "resourceType": "Task",
                "id": "4d70678c-81e4-4ff4-8c67-17596fd0aa46",
                "basedOn": [
                    {
                        "identifier": {
                            "system": "https://fhir.nhs.uk/Id/prescription-order-number",
                            "value": "24F5DA-A83008-7EFE6Z",
                        }
                    }
                ],
                "status": "in-progress",
                "businessStatus": {
                    "coding": [
                        {
                            "system": "https://fhir.nhs.uk/CodeSystem/task-businessStatus-nppt",
                            "code": "Ready to collect",
                        }
                    ]
                },
                "intent": "order",
                "focus": {
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/prescription-order-item-number",
                        "value": "6989b7bd-8db6-428c-a593-4022e3044c00",
                    }
                },
                "for": {
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/nhs-number",
                        "value": "9449304130",
                    }
                },
                "lastModified": "2023-09-11T10:11:12Z",
                "owner": {
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": "C9Z1O",
                    }
                },
            },
            "request": {"method": "POST", "url": "Task"},
        }
    ],
}
NHS_NUMBER = sample_recommendation("A81001")["service_user"]["nhs_number"]


def _psu(word: str, *, nhs_number: str = NHS_NUMBER, prescription: str | None = None) -> Any:
    bundle = copy.deepcopy(PSU_EXAMPLE)
    task = bundle["entry"][0]["resource"]
    task["businessStatus"]["coding"][0]["code"] = word
    task["for"]["identifier"]["value"] = nhs_number
    task["lastModified"] = datetime.now(UTC).isoformat()
    if prescription:
        task["basedOn"][0]["identifier"]["value"] = prescription
    return bundle


def _issued(api: TestClient, key: str) -> str:
    rec_id = _delivered(api, "A81001", key)
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        for status in ("accepted", "prescription-issued"):
            apply_status(uow, StatusChange(rec_id, status, source="poll"), now=datetime.now(UTC))
        uow.commit()
    return rec_id


def _status(api: TestClient, rec_id: str) -> str:
    return str(api.get(f"/v1/recommendations/{rec_id}").json()["status"])


@pytest.mark.usefixtures("practices")
def test_nhs_englands_ready_to_collect_example_moves_the_request_on(api: TestClient) -> None:
    rec_id = _issued(api, "psu-ready")

    response = _post(api, "A81001", _psu("Ready to collect"), secret=SECRETS["A81001"])

    assert response.status_code == 200, response.text
    assert response.json()["applied"] == 1
    assert _status(api, rec_id) == "ready-to-collect"
    last = api.get(f"/v1/recommendations/{rec_id}").json()["timeline"][-1]
    assert "24F5DA-A83008-7EFE6Z" in last["detail"]
    assert "C9Z1O" in last["detail"]


@pytest.mark.usefixtures("practices")
def test_the_prescription_is_kept_so_its_later_updates_find_the_request(
    api: TestClient,
) -> None:
    rec_id = _issued(api, "psu-kept")
    _post(api, "A81001", _psu("READY TO COLLECT "), secret=SECRETS["A81001"])
    # A second request for the same person, made later, must not take the first one's news.
    later = _issued(api, "psu-kept-2")

    response = _post(api, "A81001", _psu("collected"), secret=SECRETS["A81001"])

    assert response.json()["applied"] == 1
    assert _status(api, rec_id) == "collected"
    assert _status(api, later) == "prescription-issued"
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        stored = uow.recommendations.get(rec_id)
        assert stored is not None
        assert stored.payload["prescription_id"] == "24F5DA-A83008-7EFE6Z"


@pytest.mark.usefixtures("practices")
def test_two_open_requests_for_one_person_are_not_guessed_between(api: TestClient) -> None:
    first, second = _issued(api, "psu-two-1"), _issued(api, "psu-two-2")

    response = _post(api, "A81001", _psu("Ready to Collect"), secret=SECRETS["A81001"])

    assert response.json()["applied"] == 0
    assert response.json()["unmatched"] == 1
    assert (_status(api, first), _status(api, second)) == ("prescription-issued",) * 2


@pytest.mark.usefixtures("practices")
def test_a_pharmacy_update_for_someone_else_changes_nothing(api: TestClient) -> None:
    rec_id = _issued(api, "psu-other")

    response = _post(
        api, "A81001", _psu("Ready to Collect", nhs_number="9449304130"), secret=SECRETS["A81001"]
    )

    assert response.json()["unmatched"] == 1
    assert _status(api, rec_id) == "prescription-issued"


@pytest.mark.usefixtures("practices")
def test_another_practices_request_is_not_matched(api: TestClient) -> None:
    rec_id = _issued(api, "psu-practice")

    response = _post(api, "A81002", _psu("Ready to Collect"), secret=SECRETS["A81002"])

    assert response.json()["unmatched"] == 1
    assert _status(api, rec_id) == "prescription-issued"


@pytest.mark.usefixtures("practices")
def test_not_dispensed_ends_not_dispensed_and_tells_the_practitioner(api: TestClient) -> None:
    rec_id = _issued(api, "psu-not-dispensed")

    response = _post(api, "A81001", _psu("Not Dispensed"), secret=SECRETS["A81001"])

    assert response.json()["applied"] == 1
    assert _status(api, rec_id) == "not-dispensed"
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        told = {
            (n.event, n.recipient)
            for n in uow.notifications.for_recommendation(rec_id)
            if n.event == "not-dispensed"
        }
        stored = uow.recommendations.get(rec_id)
        assert stored is not None
        payload = stored.payload
    # The sample service user consented to messages by SMS.
    assert told == {("not-dispensed", "practitioner"), ("not-dispensed", "service-user")}
    to_them = compose(
        event="not-dispensed",
        recipient="service-user",
        recommendation_id=rec_id,
        detail=None,
        payload=payload,
        product_name="Varenicline 1 mg tablets",
        pharmacy=None,
    )
    assert "could not supply" in to_them.body
    assert denied_words(to_them.subject + " " + to_them.body) == []
    to_practitioner = compose(
        event="not-dispensed",
        recipient="practitioner",
        recommendation_id=rec_id,
        detail=None,
        payload=payload,
        product_name="Varenicline 1 mg tablets",
        pharmacy=None,
    )
    assert "could not supply the prescription for Varenicline 1 mg tablets" in to_practitioner.body


@pytest.mark.usefixtures("practices")
def test_a_new_prescription_after_not_dispensed_carries_on(api: TestClient) -> None:
    rec_id = _issued(api, "psu-again")
    _post(api, "A81001", _psu("Not Dispensed"), secret=SECRETS["A81001"])

    response = _post(api, "A81001", _psu("Ready to Collect"), secret=SECRETS["A81001"])

    assert response.json()["applied"] == 1
    assert _status(api, rec_id) == "ready-to-collect"
