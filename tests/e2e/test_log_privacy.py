"""Privacy end to end, through the real processes: after a full flow (token from a signed
client assertion, recommendations delivered, refused, read, searched, cancelled; texts and
emails sent), every log line of every process is JSON and none holds the test patients' NHS
number, phone number, email or name; and every API access left an audit record."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from adapters.standins.pds.patients import BIRTH_DATE, registered_at
from gateway.api.oauth import JWT_BEARER
from gateway.cli import sample_recommendation
from gateway.security import keys
from gateway.security.clients import DEMO_KEY_FILE
from tests.e2e.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

NHS_NUMBER = "9434765919"
PATIENT = {
    "nhs": NHS_NUMBER,
    "given": "Morwenna",
    "family": "Treloar",
    "mobile": "+447700900123",
    "email": "morwenna.treloar@example.org",
}
# Every way the identifiers could be written.
FORBIDDEN = (
    NHS_NUMBER,
    "943 476 5919",
    "943-476-5919",
    "+447700900123",
    "447700900123",
    "07700900123",
    "07700 900123",
    "morwenna.treloar@example.org",
    "Morwenna",
    "Treloar",
    # What PDS (its stand-in) holds for the other two patients: number, name, birth date.
    "Taylor",
    registered_at("Y00002"),
    registered_at("Y00003"),
    BIRTH_DATE,
    BIRTH_DATE.replace("-", ""),
)


def _payload(ods: str) -> dict[str, Any]:
    payload = sample_recommendation(ods)
    # PDS routes by the NHS number: Y00001's patient is PATIENT, the others PDS's own.
    if ods == "Y00001":
        payload["service_user"]["nhs_number"] = PATIENT["nhs"]
    payload["service_user"]["name"] = {"given": PATIENT["given"], "family": PATIENT["family"]}
    payload["service_user"]["contact"] = {
        "mobile": PATIENT["mobile"],
        "email": PATIENT["email"],
        "preferred": "sms",
    }
    return payload


@dataclass
class Flow:
    stack: Stack
    calls: list[tuple[str, str, int, str]] = field(default_factory=list)  # method, url, status, cid
    recommendations: list[str] = field(default_factory=list)
    submit_correlation_id: str = ""
    audit: list[dict[str, Any]] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)

    def call(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = client.request(method, url, **kwargs)
        self.calls.append((method, url, response.status_code, response.headers["X-Correlation-ID"]))
        return response


def _access_token(stack: Stack) -> str:
    """The real client-credentials flow, with the development demo client's key."""
    pem = (stack.workdir / "data" / DEMO_KEY_FILE).read_bytes()
    assertion = keys.client_assertion(
        pem,
        client_id="demo-app",
        audience=f"{stack.api_url}/oauth2/token",
        kid=keys.public_jwk(pem)["kid"],
    )
    response = httpx.post(
        f"{stack.api_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _run(flow: Flow) -> None:
    stack = flow.stack
    token = _access_token(stack)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api_url, timeout=10, headers=headers) as client:
        happy = flow.call(client, "POST", "/v1/recommendations", json=_payload("Y00001"))
        assert happy.status_code == 202, happy.text
        flow.submit_correlation_id = happy.headers["X-Correlation-ID"]
        declined = flow.call(client, "POST", "/v1/recommendations", json=_payload("Y00002"))
        cancelled = flow.call(client, "POST", "/v1/recommendations", json=_payload("Y00003"))
        ids = [r.json()["id"] for r in (happy, declined, cancelled)]
        flow.recommendations = ids

        # Refused requests that carry, or name, the patient's details.
        bad = _payload("Y00001")
        bad["service_user"]["nhs_number"] = "9434765918"  # wrong check digit
        assert flow.call(client, "POST", "/v1/recommendations", json=bad).status_code == 422
        unknown = _payload("Z99999")
        unknown["gp_practice"] = {"ods_code": "not an ODS code"}
        assert flow.call(client, "POST", "/v1/recommendations", json=unknown).status_code == 422
        assert flow.call(client, "GET", f"/v1/recommendations/{NHS_NUMBER}").status_code == 404
        flow.call(
            client,
            "GET",
            "/fhir/MedicationRequest",
            params={"patient:identifier": f"https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}"},
        )

        links = happy.json()["links"]["fhir"]
        for url in links.values():
            assert flow.call(client, "GET", url).status_code == 200
        flow.call(client, "GET", "/v1/recommendations")
        flow.call(client, "POST", f"/v1/recommendations/{ids[2]}/cancel")
        flow.call(client, "GET", "/ops/queues")

        def ready() -> bool:
            body = flow.call(client, "GET", f"/v1/recommendations/{ids[0]}").json()
            sent = [
                n
                for n in body["notifications"]
                if n["event"] == "ready-to-collect" and n["status"] == "sent"
            ]
            return len(sent) == 2

        wait_for(ready, timeout=60, interval=1.0, what="ready-to-collect, both told")
        wait_for(
            lambda: (
                flow.call(client, "GET", f"/v1/recommendations/{ids[1]}").json()["status"]
                == "rejected"
            ),
            timeout=30,
            interval=1.0,
            what="Y00002 to decline",
        )
        assert any(m["to"] == PATIENT["mobile"] for m in stack.sms())

        # The demo client holds the ops scope too; the trail is read as FHIR AuditEvent.
        searches = [f"entity={rec_id}" for rec_id in ids] + ["agent=demo-app"]
        for search in searches:
            url: str | None = f"{stack.api_url}/fhir/AuditEvent?{search}&_count=200"
            while url:
                bundle = httpx.get(url, headers=headers, timeout=10).json()
                flow.audit += [entry["resource"] for entry in bundle["entry"]]
                url = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), None)


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    workdir = tmp_path_factory.mktemp("privacy")
    stack = Stack(
        workdir=workdir,
        database_url=f"sqlite:///{workdir}/liaison.db",
        broker_url=f"sqla+sqlite:///{workdir}/broker.db",
    )
    result = Flow(stack)
    try:
        stack.start()
        _run(result)
    finally:
        stack.stop()
    result.logs = {
        str(path.relative_to(workdir)): path.read_text(errors="replace")
        for path in sorted(workdir.rglob("*.log"))
    }
    return result


def test_no_log_of_any_process_names_the_patient(flow: Flow) -> None:
    assert {"api.log", "worker.log", "beat.log", "simulator.log"} <= set(flow.logs)
    found = [
        f"{name}: {secret!r}"
        for name, text in flow.logs.items()
        for secret in FORBIDDEN
        if secret in text
    ]
    assert found == []


def test_liaisons_logs_are_json_with_one_correlation_id_across_processes(flow: Flow) -> None:
    liaison_lines: dict[str, list[dict[str, Any]]] = {}
    for name in ("api.log", "worker.log", "beat.log"):
        # Celery prints its start-up banner on stdout; every logged line is JSON.
        lines = [line for line in flow.logs[name].splitlines() if line.startswith("{")]
        liaison_lines[name] = [json.loads(line) for line in lines]
    access = [line for line in liaison_lines["api.log"] if line.get("logger") == "liaison.access"]
    assert len(access) >= len(flow.calls)
    assert {line["correlation_id"] for line in access} >= {c[3] for c in flow.calls}
    # The delivery of the first recommendation ran under the id of the request that made it.
    worker = [
        line
        for line in liaison_lines["worker.log"]
        if line.get("correlation_id") == flow.submit_correlation_id
    ]
    assert any(line.get("task") == "liaison.deliver" for line in worker), worker


def test_every_access_in_the_flow_left_an_audit_record(flow: Flow) -> None:
    audited = {
        detail["valueString"]
        for event in flow.audit
        for detail in event["entity"][0].get("detail", [])
        if detail["type"] == "correlation-id"
    }
    unaudited = [
        (method, url, status)
        for method, url, status, cid in flow.calls
        if cid not in audited and not re.match(r"^/(healthz|readyz)", url)
    ]
    assert unaudited == []
    by_recommendation = {
        rec_id: {
            (e["entity"][0]["description"], e["outcome"])
            for e in flow.audit
            if e["entity"][0].get("what", {}).get("identifier", {}).get("value") == rec_id
        }
        for rec_id in flow.recommendations
    }
    first, _, cancelled = flow.recommendations
    assert ("POST /v1/recommendations", "0") in by_recommendation[first]
    assert ("GET /v1/recommendations/{recommendation_id}", "0") in by_recommendation[first]
    assert ("GET /fhir/{resource_type}/{resource_id}", "0") in by_recommendation[first]
    assert ("GET /v1/recommendations", "0") in by_recommendation[first]
    assert any(
        description == "POST /v1/recommendations/{recommendation_id}/cancel"
        for description, _ in by_recommendation[cancelled]
    )
    for event in flow.audit:
        text = json.dumps(event)
        assert not [s for s in FORBIDDEN if s in text]
