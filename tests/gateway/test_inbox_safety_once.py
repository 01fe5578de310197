"""The inbox detail page of a safety-flagged request says its clinical-safety advice once,
in the flag box, and still shows everything else the practitioner's summary says (the advice
used to be printed in the flag box and again in the summary)."""

import html
import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from gateway.cli import sample_recommendation
from gateway.security.tokens import issue_token
from gateway.services.status_updates import StatusChange, apply_status
from tests.gateway.test_inbox import _sign_in, _uow, inbox

__all__ = ["inbox"]


def _flagged_request(api: TestClient) -> str:
    token = issue_token(api.app.state.settings, client_id="demo-app", organisation_ods="RX3")  # type: ignore[attr-defined]
    body = {**sample_recommendation("A81003"), "current_medications": [{"name": "clozapine"}]}
    response = api.post(
        "/v1/recommendations",
        json=body,
        headers={"Idempotency-Key": "inbox-safety-once", "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.text
    rec_id = str(response.json()["id"])
    with _uow(api) as uow:
        apply_status(
            uow, StatusChange(rec_id, "delivered", source="delivery"), now=datetime.now(UTC)
        )
        uow.commit()
    return rec_id


def _stored_text(api: TestClient, rec_id: str, resource_type: str) -> str:
    with _uow(api) as uow:
        [resource] = [
            r for r in uow.recommendations.resources_for(rec_id) if r.resource_type == resource_type
        ]
        if resource_type == "DetectedIssue":
            return str(resource.body["detail"])
        return str(resource.body["payload"][0]["contentString"])


def _page_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_safety_advice_is_shown_once_and_nothing_else_is_lost(inbox: TestClient) -> None:
    rec_id = _flagged_request(inbox)
    advice = _stored_text(inbox, rec_id, "DetectedIssue")
    summary = _stored_text(inbox, rec_id, "CommunicationRequest")
    assert _sign_in(inbox) == 303

    page = inbox.get(f"/inbox/requests/{rec_id}")
    assert page.status_code == 200
    text = _page_text(page.text)
    advice_lines = [line for line in advice.splitlines() if line.strip()]
    assert advice_lines
    for line in advice_lines:
        assert text.count(line) == 1, line
    # Each other line of the practitioner's summary (which medicines, who was told, the
    # sources, the request itself) is still on the page, once.
    for line in summary.splitlines():
        words = re.sub(r"^CLINICAL SAFETY \([^)]*\): ", "", line).strip()
        if words and words != "----":
            assert text.count(words) == 1, words
    assert text.count("Clinical safety (high)") == 1
    assert "CLINICAL SAFETY" not in text
