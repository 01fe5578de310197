"""SMART Backend Services authorisation for a practice's FHIR endpoint, as an `httpx.Auth`.

Liaison asks the practice's token URL for an access token with a client-credentials grant,
authenticating with a JWT assertion signed by its private key (RS384 or ES384), and sends
the token as a bearer token. Tokens are cached until shortly before they expire; a 401 from
the FHIR server fetches a new one once.
(HL7 SMART App Launch 2.x, "SMART Backend Services"; RFC 7523 client assertions.)
"""

import threading
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Final

import httpx
import jwt

from adapters.errors import PermanentAdapterError, TransientAdapterError
from adapters.http_status import error_for_status

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME: Final = 300  # the spec's maximum
EXPIRY_MARGIN: Final = 30.0


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class SmartBackendAuth(httpx.Auth):
    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        private_key_pem: str,
        scope: str | None,
        key_id: str | None = None,
        algorithm: str = "RS384",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._key = private_key_pem
        self._scope = scope
        self._key_id = key_id
        self._algorithm = algorithm
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None

    def assertion(self) -> str:
        now = int(self._clock())
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._token_url,
            "exp": now + ASSERTION_LIFETIME,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        headers = {"typ": "JWT", **({"kid": self._key_id} if self._key_id else {})}
        try:
            return jwt.encode(claims, self._key, algorithm=self._algorithm, headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as error:
            raise PermanentAdapterError(
                f"cannot sign the SMART client assertion with the configured key: "
                f"{type(error).__name__}"
            ) from error

    def _cached(self) -> str | None:
        with self._lock:
            token = self._token
        if token is not None and token.expires_at - EXPIRY_MARGIN > self._clock():
            return token.value
        return None

    def _token_request(self) -> httpx.Request:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }
        # NHS England's platform takes no scope: the API key's registration decides access.
        if self._scope is not None:
            form["scope"] = self._scope
        return httpx.Request(
            "POST", self._token_url, data=form, headers={"Accept": "application/json"}
        )

    def _store(self, response: httpx.Response) -> str:
        what = f"token request to {self._token_url} answered {response.status_code}"
        if response.status_code != 200:
            # 400/401 invalid_client, invalid_scope... (RFC 6749 §5.2) are permanent:
            # configuration, not luck.
            raise error_for_status(
                response.status_code, what, retry_after=response.headers.get("Retry-After")
            )
        try:
            body = response.json()
            value = str(body["access_token"])
            lifetime = float(body.get("expires_in", ASSERTION_LIFETIME))
        except (ValueError, KeyError, TypeError) as error:
            raise TransientAdapterError(f"{what} without a usable access token") from error
        with self._lock:
            self._token = _Token(value, self._clock() + lifetime)
        return value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._cached()
        if token is None:
            token_response = yield self._token_request()
            token_response.read()
            token = self._store(token_response)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        # The server may have revoked or forgotten the token: one fresh try.
        with self._lock:
            self._token = None
        token_response = yield self._token_request()
        token_response.read()
        request.headers["Authorization"] = f"Bearer {self._store(token_response)}"
        yield request
