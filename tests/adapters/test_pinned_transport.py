"""A request pinned to a checked address still speaks HTTPS to the name in its URL: over a
real TLS connection the certificate is checked against the name (not the address), and the
receiver sees the name in `Host`."""

import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request

from adapters.pinned_transport import pinned

NAME = "hooks.case-app.test"


def _certificate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for NAME only (no IP address in it)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Liaison test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def https_receiver(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    ca, cert, key = _certificate(tmp_path)
    hosts: list[str] = []
    app = FastAPI()

    @app.post("/hooks")
    async def hook(request: Request) -> dict[str, str]:
        hosts.append(request.headers["host"])
        return {"ok": "yes"}

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port, ca, hosts
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_pinned_request_verifies_the_certificate_against_the_name(
    https_receiver: tuple[int, Path, list[str]],
) -> None:
    port, ca, hosts = https_receiver
    trusting = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(ca)))
    request = httpx.Request("POST", f"https://{NAME}:{port}/hooks", content=b"{}")

    response = trusting.handle_request(pinned(request, ipaddress.ip_address("127.0.0.1")))
    response.read()

    assert response.status_code == 200
    assert hosts == [f"{NAME}:{port}"]


def test_a_pinned_request_refuses_a_certificate_for_another_name(
    https_receiver: tuple[int, Path, list[str]],
) -> None:
    port, ca, hosts = https_receiver
    trusting = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(ca)))
    request = httpx.Request("POST", f"https://other.case-app.test:{port}/hooks", content=b"{}")

    with pytest.raises(httpx.ConnectError, match="certificate"):
        trusting.handle_request(pinned(request, ipaddress.ip_address("127.0.0.1")))
    assert hosts == []
