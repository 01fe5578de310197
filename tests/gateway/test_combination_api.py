"""Combination NRT through /v1/recommendations: a patch with short-acting
forms is accepted and stored as one MedicationRequest per medicine in one group; anything
NICE NG209 does not name is refused with a 422 naming `combination`, leaving nothing."""

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fhir_profiles import systems
from fhir_profiles.catalogue import CATALOGUE
from gateway.cli import sample_recommendation
from gateway.domain.medicines import medicine_name
from gateway.services.practice_inbox import pending
from gateway.services.status_updates import StatusChange, apply_status
from gateway.store.unit_of_work import UnitOfWork
from tests.gateway.conftest import row_counts

PATCH: dict[str, Any] = {
    "product": "nicotine-21mg-24h-patches",
    "dose_text": "One patch a day",
    "duration_days": 56,
}
GUM: dict[str, Any] = {"product": "nicotine-2mg-gum", "dose_text": "One piece when the urge comes"}
SPRAY: dict[str, Any] = {
    "product": "nicotine-1mg-mouth-spray",
    "dose_text": "One or two sprays as needed",
}
NAMES = [CATALOGUE[m["product"]].name for m in (PATCH, GUM, SPRAY)]


def _body(medication: dict[str, Any], combination: list[dict[str, Any]]) -> dict[str, Any]:
    payload = sample_recommendation("Y00001")
    return {**payload, "medication": medication, "combination": combination}


def _medication_requests(api: TestClient, recommendation_id: str) -> list[dict[str, Any]]:
    found = api.get(
        "/fhir/MedicationRequest",
        params={"identifier": f"{systems.RECOMMENDATION_ID}|{recommendation_id}"},
    )
    assert found.status_code == 200
    return [entry["resource"] for entry in found.json().get("entry", [])]


def test_a_patch_with_two_short_acting_forms_is_one_request_of_three_medicines(
    api: TestClient,
) -> None:
    response = api.post("/v1/recommendations", json=_body(PATCH, [GUM, SPRAY]))

    assert response.status_code == 202
    accepted = response.json()
    requests = _medication_requests(api, accepted["id"])
    by_name = {r["medicationCodeableConcept"]["text"]: r for r in requests}
    assert set(by_name) == set(NAMES)
    group = {"system": systems.RECOMMENDATION_ID, "value": accepted["id"]}
    assert [r["groupIdentifier"] for r in requests] == [group] * 3
    assert by_name[NAMES[1]]["dosageInstruction"] == [{"text": GUM["dose_text"]}]
    # One Task and one CommunicationRequest for the whole request; the link is the patch's.
    links = accepted["links"]["fhir"]
    task = api.get(links["Task"]).json()
    patch = api.get(links["MedicationRequest"]).json()
    assert patch["medicationCodeableConcept"]["text"] == NAMES[0]
    assert task["focus"]["reference"] == f"MedicationRequest/{patch['id']}"
    assert task["groupIdentifier"] == group
    communication = api.get(links["CommunicationRequest"]).json()
    assert len(communication["about"]) == 4  # three medicines and the clozapine flag
    # Three requests, the CommunicationRequest, the Task, the flag and the three parties.
    counts = row_counts(api)
    assert (counts["recommendations"], counts["fhir_resources"], counts["deliveries"]) == (1, 9, 1)
    shown = api.get(accepted["links"]["self"]).json()
    assert shown["product"] == f"{NAMES[0]}, {NAMES[1]} and {NAMES[2]}"


def test_a_single_medicine_needs_no_combination(api: TestClient) -> None:
    response = api.post("/v1/recommendations", json=_body(PATCH, []))

    assert response.status_code == 202
    (request,) = _medication_requests(api, response.json()["id"])
    assert "groupIdentifier" not in request


def _choice(product: str) -> dict[str, Any]:
    return {"product": product, "dose_text": "As directed"}


@pytest.mark.parametrize(
    ("medication", "combination", "field", "words"),
    [
        (PATCH, [_choice("nicotine-7mg-24h-patches")], "combination", "two patches"),
        (PATCH, [_choice("varenicline-1mg-tablets")], "combination", "not combined"),
        (
            _choice("bupropion-150mg-mr-tablets"),
            [GUM],
            "combination",
            "Bupropion 150mg modified-release tablets is recommended on its own",
        ),
        (_choice("nicotine-2mg-gum"), [SPRAY], "combination", "no patch"),
        (PATCH, [GUM, GUM], "combination", "nicotine-2mg-gum is listed twice"),
        (PATCH, [PATCH], "combination", "listed twice"),
        (PATCH, [GUM, _choice("nicotine-4mg-gum")], "combination", "one strength"),
        (PATCH, [GUM, SPRAY, _choice("nicotine-2mg-lozenges")], "combination", "at most 2"),
        (PATCH, [_choice("nicotine-9mg-gum")], "combination[0].product", "unknown medicine"),
        (PATCH, [{"product": "nicotine-2mg-gum"}], "combination[0].dose_text", "required"),
    ],
)
def test_a_combination_outside_ng209_is_refused_naming_the_field_and_stores_nothing(
    api: TestClient,
    medication: dict[str, Any],
    combination: list[dict[str, Any]],
    field: str,
    words: str,
) -> None:
    response = api.post("/v1/recommendations", json=_body(medication, combination))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [field]
    assert problem["errors"][0]["detail"].startswith(f"{field}: ")
    assert words in problem["errors"][0]["detail"]
    assert row_counts(api) == dict.fromkeys(row_counts(api), 0)


def test_a_stored_combination_is_named_in_full_for_people() -> None:
    payload = {"combination": [GUM]}
    assert medicine_name(PATCH["product"], payload) == f"{NAMES[0]} and {NAMES[1]}"
    assert medicine_name(PATCH["product"], {}) == NAMES[0]
    # A key the catalogue no longer holds is shown as it was stored.
    assert medicine_name("retired-product", payload) == f"retired-product and {NAMES[1]}"


def test_the_practice_inbox_shows_every_medicine_and_its_dose(api: TestClient) -> None:
    accepted = api.post("/v1/recommendations", json=_body(PATCH, [GUM])).json()
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        change = StatusChange(accepted["id"], "delivered", source="delivery")
        apply_status(uow, change, now=datetime.now(UTC))
        uow.commit()
        (item,) = pending(uow, "Y00001")
    assert item.medicine == f"{NAMES[0]} and {NAMES[1]}"
    assert item.dose == f"{NAMES[0]}: {PATCH['dose_text']}; {NAMES[1]}: {GUM['dose_text']}"
    assert NAMES[1] in item.summary  # the request the practice reads names the gum too


def test_a_single_medicine_request_is_stored_as_before_combinations(api: TestClient) -> None:
    # The stored payload (and so the idempotency hash) has no empty `combination`.
    accepted = api.post("/v1/recommendations", json=sample_recommendation("Y00001")).json()
    combined = api.post("/v1/recommendations", json=_body(PATCH, [GUM])).json()
    with UnitOfWork(api.app.state.session_factory) as uow:  # type: ignore[attr-defined]
        single = uow.recommendations.get(accepted["id"])
        pair = uow.recommendations.get(combined["id"])
        assert single is not None
        assert pair is not None
        assert "combination" not in single.payload
        assert pair.payload["combination"] == [{**GUM, "duration_days": None}]
