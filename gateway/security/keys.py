"""Client-side key material: what a client system does to call Liaison (and what the CLI and
the development demo client do for it). Liaison itself only ever stores public keys.

A client makes a key pair, registers the public half as a JWKS, and signs a short-lived
client assertion with the private half each time it wants an access token (RFC 7523,
`private_key_jwt`, as NHS England's application-restricted APIs and SMART Backend Services).
"""

import base64
import hashlib
import json
import time
import uuid
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

KeyType = Literal["EC", "RSA"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_private_key_pem(kind: KeyType = "EC") -> bytes:
    key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "EC"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("only EC (P-256, P-384) and RSA private keys are supported")
    return key


def algorithm_for(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    return "ES384" if key.curve.name == "secp384r1" else "ES256"


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a stable key id derived from the public key itself."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(private_pem: bytes, *, kid: str | None = None) -> dict[str, Any]:
    key = load_private_key(private_pem)
    public = key.public_key()
    jwk: dict[str, Any] = (
        RSAAlgorithm.to_jwk(public, as_dict=True)
        if isinstance(public, rsa.RSAPublicKey)
        else ECAlgorithm.to_jwk(public, as_dict=True)
    )
    jwk.update({"use": "sig", "alg": algorithm_for(key)})
    jwk["kid"] = kid or thumbprint(jwk)
    return jwk


def client_assertion(
    private_pem: bytes,
    *,
    client_id: str,
    audience: str,
    kid: str,
    lifetime_seconds: int = 60,
    jti: str | None = None,
    now: float | None = None,
) -> str:
    """A signed JWT proving the caller holds the client's private key."""
    key = load_private_key(private_pem)
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": jti or str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + lifetime_seconds,
    }
    return jwt.encode(claims, key, algorithm=algorithm_for(key), headers={"kid": kid})
