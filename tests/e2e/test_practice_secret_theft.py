"""The practice directory cannot be used to steal Liaison's own secrets, end to end: real
`liaison` api, worker and beat processes, the GP simulator, and a local listener standing
for the attacker's host.

An ops-scope client (the development demo client, and an ops client registered through the
CLI and signed in through POST /oauth2/token) asks to point practice Y00001 at the attacker
with `token_env: LIAISON_SECURITY__SECRET_KEY`. The request is refused with a problem+json
naming the field, the entry is unchanged, the next delivery goes to the real practice, and the
attacker's listener receives nothing at all, least of all the secret key. An operator with
a shell still connects a practice to its own endpoint with its own credential."""

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from gateway.cli import sample_recommendation
from gateway.security import keys
from tests.e2e.stack import Stack, wait_for
from tests.peers.servers import serve_in_thread

pytestmark = pytest.mark.e2e

SECRET_KEY = "e2e-liaison-secret-key-that-must-never-leave-" + "k" * 20
PRACTICE_TOKEN = "e2e-token-of-practice-y00003"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Listener:
    """An HTTP server that records every request it gets (method, path, headers, body)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        with self.lock:
            self.requests.append(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                    "body": body.decode(errors="replace"),
                }
            )
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def seen(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)


@dataclass
class TheftStack:
    stack: Stack
    attacker: Listener
    attacker_url: str
    gp: Listener
    gp_url: str


@pytest.fixture(scope="module")
def theft_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TheftStack]:
    tmp_path = tmp_path_factory.mktemp("theft")
    attacker, gp = Listener(), Listener()
    with serve_in_thread(attacker) as attacker_url, serve_in_thread(gp) as gp_url:
        stack = Stack(
            workdir=tmp_path,
            database_url=f"sqlite:///{tmp_path}/liaison.db",
            broker_url=f"sqla+sqlite:///{tmp_path}/broker.db",
            extra_env={
                "LIAISON_SECURITY__SECRET_KEY": SECRET_KEY,
                "LIAISON_PRACTICE_SECRET_Y00003_TOKEN": PRACTICE_TOKEN,
            },
        )
        try:
            stack.start()
            yield TheftStack(stack, attacker, attacker_url, gp, gp_url)
        finally:
            stack.stop()


def _registered_ops_client(stack: Stack) -> httpx.Client:
    """An ops client registered from the shell with its kind's default scopes, signed in
    through the token endpoint as a real client would."""
    pem_path = stack.workdir / "ops-tool.pem"
    pem = keys.generate_private_key_pem("EC")
    pem_path.write_bytes(pem)
    stack.liaison(
        "clients", "add", "ops-tool", "--kind", "ops", "--ods", "RX3",
        "--private-key-for-demo", str(pem_path),
    )  # fmt: skip
    assertion = keys.client_assertion(
        pem,
        client_id="ops-tool",
        audience=f"{stack.api_url}/oauth2/token",
        kid=keys.public_jwk(pem)["kid"],
    )
    granted = httpx.post(
        f"{stack.api_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        },
        timeout=10,
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "ops"  # no practice-admin by default
    token = granted.json()["access_token"]
    return httpx.Client(
        base_url=stack.api_url, timeout=10, headers={"Authorization": f"Bearer {token}"}
    )


def _entry(client: httpx.Client, ods: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/ops/practices/{ods}").json()
    body.pop("health")
    return body


def _submit(client: httpx.Client, ods: str, key: str) -> str:
    response = client.post(
        "/v1/recommendations", json=sample_recommendation(ods), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _tasks_at_simulator(stack: Stack, ods: str) -> list[dict[str, Any]]:
    return [r for r in stack.received_at_gp() if r["type"] == "Task" and r["ods_code"] == ods]


def test_an_ops_client_cannot_send_liaisons_secret_key_to_its_own_host(
    theft_stack: TheftStack,
) -> None:
    stack, attacker = theft_stack.stack, theft_stack.attacker
    attack = {
        "adapter": "fhir",
        "base_url": f"{theft_stack.attacker_url}/fhir",
        "auth": {"type": "bearer", "token_env": "LIAISON_SECURITY__SECRET_KEY"},
    }
    # The same host, with a credential from the practice namespace: still not ops' to set.
    redirect = {**attack, "auth": {"type": "bearer", "token_env": "LIAISON_PRACTICE_SECRET_X"}}
    with stack.client() as demo, _registered_ops_client(stack) as ops:
        before = _entry(ops, "Y00001")
        answers = [
            (who, body, client.put("/ops/practices/Y00001", json=body))
            for who, client in (("demo client", demo), ("registered ops client", ops))
            # The attack last: had any attempt been accepted, it is what would be in force.
            for body in (redirect, attack)
        ]
        after_attack = _entry(ops, "Y00001")

        # The next delivery to Y00001, sent after the attempts, goes where it went before.
        rec_id = _submit(demo, "Y00001", "after-the-attack")
        wait_for(
            lambda: _tasks_at_simulator(stack, "Y00001") or attacker.seen(),
            timeout=120,
            what="the delivery to reach the practice (or the attacker)",
        )
        status = demo.get(f"/v1/recommendations/{rec_id}").json()["status"]

    # Nothing left the machine for the attacker: no request at all, so no secret.
    leaked = attacker.seen()
    carrying = (
        " carrying LIAISON_SECURITY__SECRET_KEY"
        if any(SECRET_KEY in str(r) for r in leaked)
        else ""
    )
    assert leaked == [], f"the attacker's host received {len(leaked)} request(s){carrying}"
    assert all(SECRET_KEY not in str(r) for r in theft_stack.gp.seen())
    # Each attempt was refused with a problem+json naming what it may not set.
    for who, body, answer in answers:
        assert answer.status_code in (403, 422), f"{who}: {answer.status_code} {answer.text}"
        assert answer.headers["content-type"].startswith("application/problem+json"), who
        problem = answer.json()
        fields = {e["field"] for e in problem["errors"]}
        if body is attack:
            assert answer.status_code == 422, who
            assert fields == {"auth.bearer.token_env"}, who
            assert "LIAISON_PRACTICE_SECRET_" in problem["detail"], who
        else:
            assert answer.status_code == 403, who
            assert fields == {"adapter", "auth", "base_url"}, who
            assert "practice-admin" in problem["detail"], who
    assert after_attack == before
    assert before["adapter"] == "simulator"
    assert status != "delivery-failed"
    assert len(_tasks_at_simulator(stack, "Y00001")) >= 1


def test_an_operator_with_a_shell_still_connects_a_practice_with_its_own_credential(
    theft_stack: TheftStack,
) -> None:
    stack, gp = theft_stack.stack, theft_stack.gp
    changed = stack.liaison(
        "practices", "set", "Y00003", "--adapter", "fhir",
        "--base-url", f"{theft_stack.gp_url}/fhir",
        "--token-env", "LIAISON_PRACTICE_SECRET_Y00003_TOKEN",
    )  # fmt: skip
    assert "updated Y00003" in changed
    with stack.client() as demo:
        assert _entry(demo, "Y00003")["source"] == "cli"
        _submit(demo, "Y00003", "own-credential")
        posts = wait_for(
            lambda: [r for r in gp.seen() if r["method"] == "POST"],
            timeout=120,
            what="the delivery to reach the practice's own endpoint",
        )
    assert posts[0]["headers"]["authorization"] == f"Bearer {PRACTICE_TOKEN}"
    assert all(SECRET_KEY not in str(r) for r in gp.seen())
    assert theft_stack.attacker.seen() == []
