"""Use cases of the client registry: register, list, rotate keys, revoke.

A client is one calling system acting for one tenant:
- `case-management`: a mental-health organisation's app (scopes `recommendations`, `fhir`);
- `gp-practice`: one GP practice's system (scopes `gp-practice`, `fhir`);
- `ops`: integration engineers' tooling (scope `ops`), which sees ids, never patients.

`practice-admin` (changing a practice's adapter, endpoint and credentials in the practice
directory) is never granted by default: an ops client gets it only when registered with it
by name (`liaison clients add ... --kind ops --scopes "ops practice-admin"`).
"""

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.domain.errors import Invalid
from gateway.security import keys
from gateway.security.scopes import KIND_ALLOWED_SCOPES, KIND_SCOPES, KNOWN_SCOPES
from gateway.settings import Settings
from gateway.store.models import ApiClient
from gateway.store.unit_of_work import UnitOfWork

ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384")
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,99}$")
_ODS = re.compile(r"^[A-Z0-9]{3,10}$")
DEMO_KEY_FILE = "demo-client-key.pem"


class ClientRegistryError(Invalid):
    """A registration or change refused; `field` names what is wrong."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)


def validate_jwks(jwks: Any) -> dict[str, Any]:
    """The JWKS as stored: public signing keys only, each with a unique `kid`."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ClientRegistryError('a JWKS is an object with a non-empty "keys" list', field="jwks")
    seen: set[str] = set()
    stored = []
    for index, jwk in enumerate(jwks["keys"]):
        where = f"jwks.keys[{index}]"
        if not isinstance(jwk, dict):
            raise ClientRegistryError(f"{where}: not a JSON object", field=where)
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ClientRegistryError(f"{where}: every key needs a kid", field=f"{where}.kid")
        if kid in seen:
            raise ClientRegistryError(f"{where}: kid {kid!r} appears twice", field=f"{where}.kid")
        seen.add(kid)
        if _PRIVATE_MEMBERS & set(jwk):
            raise ClientRegistryError(
                f"{where}: this is a private key; register only the public key",
                field=where,
            )
        if jwk.get("use", "sig") != "sig":
            raise ClientRegistryError(f"{where}: use must be sig", field=f"{where}.use")
        if "alg" in jwk and jwk["alg"] not in ASSERTION_ALGORITHMS:
            raise ClientRegistryError(
                f"{where}: alg must be one of {', '.join(ASSERTION_ALGORITHMS)}",
                field=f"{where}.alg",
            )
        try:
            parsed = jwt.PyJWK(jwk)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise ClientRegistryError(f"{where}: not a usable key ({exc})", field=where) from exc
        key = parsed.key
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
            raise ClientRegistryError(f"{where}: RSA keys need 2048 bits or more", field=where)
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in (
            "secp256r1",
            "secp384r1",
        ):
            raise ClientRegistryError(f"{where}: EC keys must be P-256 or P-384", field=where)
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ClientRegistryError(f"{where}: only RSA and EC keys are accepted", field=where)
        stored.append(dict(jwk))
    return {"keys": stored}


def _parse_scopes(kind: str, scopes: str | None, *, any_scopes: bool) -> str:
    allowed = KIND_ALLOWED_SCOPES[kind]
    wanted = set((scopes or " ".join(sorted(KIND_SCOPES[kind]))).split())
    unknown = wanted - KNOWN_SCOPES
    if unknown:
        raise ClientRegistryError(f"unknown scopes: {' '.join(sorted(unknown))}", field="scopes")
    if not any_scopes and not wanted <= allowed:
        raise ClientRegistryError(
            f"a {kind} client may hold only: {' '.join(sorted(allowed))}", field="scopes"
        )
    return " ".join(sorted(wanted))


def register_client(
    uow: UnitOfWork,
    *,
    client_id: str,
    kind: str,
    organisation_ods: str,
    jwks: Any,
    now: datetime,
    scopes: str | None = None,
    any_scopes: bool = False,
) -> ApiClient:
    """Register (not commit) a new client. `any_scopes` is for the development demo client,
    which holds every scope so `make run` works without set-up."""
    if not _CLIENT_ID.match(client_id):
        raise ClientRegistryError(
            "client_id: 2 to 100 letters, digits, dots, dashes or underscores", field="client_id"
        )
    if kind not in KIND_SCOPES:
        raise ClientRegistryError(f"kind: one of {', '.join(KIND_SCOPES)}", field="kind")
    ods = organisation_ods.strip().upper()
    if not _ODS.match(ods):
        raise ClientRegistryError("ods: not an ODS code (3 to 10 letters and digits)", field="ods")
    if uow.clients.get(client_id) is not None:
        raise ClientRegistryError(f"client {client_id} is already registered", field="client_id")
    client = ApiClient(
        client_id=client_id,
        kind=kind,
        organisation_ods=ods,
        scopes=_parse_scopes(kind, scopes, any_scopes=any_scopes),
        jwks=validate_jwks(jwks),
        status="active",
        created_at=now,
        updated_at=now,
    )
    uow.clients.add(client)
    return client


def _existing(uow: UnitOfWork, client_id: str) -> ApiClient:
    client = uow.clients.get(client_id)
    if client is None:
        raise ClientRegistryError(f"no client {client_id}", field="client_id")
    return client


def replace_keys(uow: UnitOfWork, *, client_id: str, jwks: Any, now: datetime) -> ApiClient:
    """Key rotation: the client registers its new key beside the old one, moves its
    assertions to the new `kid`, then registers the JWKS without the old key."""
    client = _existing(uow, client_id)
    client.jwks = validate_jwks(jwks)
    client.updated_at = now
    return client


def revoke_client(uow: UnitOfWork, *, client_id: str, now: datetime) -> ApiClient:
    """Takes effect at once: every request checks the registry, so tokens already issued
    stop working on their next use, and the token endpoint refuses new ones."""
    client = _existing(uow, client_id)
    if client.status != "revoked":
        client.status = "revoked"
        client.revoked_at = now
        client.updated_at = now
    return client


def demo_key(settings: Settings) -> tuple[bytes, dict[str, Any]]:
    """The development demo client's private key (made on first use, kept in the data
    directory, readable by its owner only) and its public JWK."""
    path = Path(settings.data_dir) / DEMO_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(keys.generate_private_key_pem("EC"))
    pem = path.read_bytes()
    return pem, keys.public_jwk(pem)


def seed_demo_client(uow: UnitOfWork, settings: Settings, *, now: datetime) -> bool:
    """Register the demo client in development (never in production). True if added."""
    if settings.environment != "development" or uow.clients.get(
        settings.development.demo_client_id
    ):
        return False
    _, jwk = demo_key(settings)
    register_client(
        uow,
        client_id=settings.development.demo_client_id,
        kind="case-management",
        organisation_ods=settings.development.demo_client_ods,
        jwks={"keys": [jwk]},
        scopes="recommendations fhir ops",
        any_scopes=True,
        now=now,
    )
    return True
