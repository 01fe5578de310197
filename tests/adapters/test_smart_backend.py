"""SMART Backend Services: Liaison gets a token with a signed client assertion, sends it as a
bearer token, reuses it until it expires, and fetches a new one after a 401. The practice's
authorisation server and FHIR endpoint are played through httpx.MockTransport."""

import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.errors import PermanentAdapterError, RateLimited, TransientAdapterError
from adapters.fhir_rest import FhirRestGPSystem
from adapters.smart_backend import ASSERTION_TYPE, SmartBackendAuth

TOKEN_URL = "https://auth.gp.example/token"
BASE = "https://gp.example/fhir"


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class Practice:
    """An authorisation server that checks assertions, and a FHIR server that checks tokens."""

    def __init__(self, public_key: Any, algorithm: str) -> None:
        self.public_key = public_key
        self.algorithm = algorithm
        self.issued: list[str] = []
        self.assertions: list[dict[str, Any]] = []
        self.revoked: set[str] = set()
        self.fhir_calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            form = dict(httpx.QueryParams(request.content.decode()))
            assert form["grant_type"] == "client_credentials"
            assert form["client_assertion_type"] == ASSERTION_TYPE
            claims = jwt.decode(
                form["client_assertion"],
                self.public_key,
                algorithms=[self.algorithm],
                audience=TOKEN_URL,
                leeway=600,  # the test moves Liaison's clock forward
                options={"require": ["exp", "iss", "sub", "jti"]},
            )
            assert claims["iss"] == claims["sub"] == "liaison-client"
            assert jwt.get_unverified_header(form["client_assertion"])["kid"] == "key-1"
            self.assertions.append(claims)
            token = f"token-{len(self.issued) + 1}"
            self.issued.append(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": 300})
        self.fhir_calls += 1
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.issued or token in self.revoked:
            return httpx.Response(401)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})


@pytest.mark.parametrize(
    ("algorithm", "key"),
    [
        ("RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES384", ec.generate_private_key(ec.SECP384R1())),
    ],
)
def test_tokens_are_fetched_with_a_signed_assertion_and_reused(algorithm: str, key: Any) -> None:
    practice = Practice(key.public_key(), algorithm)
    clock = [time.time()]
    auth = SmartBackendAuth(
        token_url=TOKEN_URL,
        client_id="liaison-client",
        private_key_pem=_pem(key),
        scope="system/Task.rs",
        key_id="key-1",
        algorithm=algorithm,
        clock=lambda: clock[0],
    )
    with FhirRestGPSystem(base_url=BASE, auth=auth, transport=httpx.MockTransport(practice)) as gp:
        gp.fetch_updates(ods_code="A81001", since=None)
        gp.fetch_updates(ods_code="A81001", since=None)
        assert practice.issued == ["token-1"]  # reused while valid

        clock[0] += 290  # within the expiry margin: a new token
        gp.fetch_updates(ods_code="A81001", since=None)
        assert practice.issued == ["token-1", "token-2"]

        practice.revoked.add("token-2")  # the server forgot it: one fresh try
        batch = gp.fetch_updates(ods_code="A81001", since=None)
        assert batch.reports == []
        assert practice.issued[-1] == "token-3"
    assert len({c["jti"] for c in practice.assertions}) == 3  # never the same assertion twice


def test_a_refused_client_is_a_permanent_error() -> None:
    key = ec.generate_private_key(ec.SECP384R1())

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_client"})

    auth = SmartBackendAuth(
        token_url=TOKEN_URL,
        client_id="liaison-client",
        private_key_pem=_pem(key),
        scope="system/Task.rs",
        algorithm="ES384",
    )
    with (
        FhirRestGPSystem(base_url=BASE, auth=auth, transport=httpx.MockTransport(refuse)) as gp,
        pytest.raises(PermanentAdapterError, match="token request"),
    ):
        gp.fetch_updates(ods_code="A81001", since=None)


def test_a_key_that_cannot_sign_is_a_permanent_error() -> None:
    auth = SmartBackendAuth(
        token_url=TOKEN_URL,
        client_id="liaison-client",
        private_key_pem="not a key",
        scope="system/Task.rs",
    )
    with pytest.raises(PermanentAdapterError, match="cannot sign"):
        auth.assertion()


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (httpx.Response(429, headers={"Retry-After": "120"}), RateLimited),
        (httpx.Response(503), TransientAdapterError),
        (httpx.Response(408), TransientAdapterError),
    ],
)
def test_a_busy_token_endpoint_is_worth_asking_again(
    answer: httpx.Response, kind: type[TransientAdapterError]
) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    auth = SmartBackendAuth(
        token_url=TOKEN_URL,
        client_id="liaison-client",
        private_key_pem=_pem(key),
        scope="system/Task.rs",
        algorithm="ES384",
    )
    transport = httpx.MockTransport(lambda _: answer)
    with (
        FhirRestGPSystem(base_url=BASE, auth=auth, transport=transport, retry_attempts=1) as gp,
        pytest.raises(kind, match="token request") as raised,
    ):
        gp.fetch_updates(ods_code="A81001", since=None)
    assert type(raised.value) is kind
    if isinstance(raised.value, RateLimited):
        assert raised.value.retry_after == 120  # the endpoint's own wait, not a guess
