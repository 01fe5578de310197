"""PUT /v1/webhook-subscription refuses URLs that would make Liaison call into its own
network, in every spelling; only the operator's LIAISON_WEBHOOKS__ALLOWED_HOSTS lets one in."""

import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.address_policy import IPAddress
from gateway.api.v1.webhooks import host_resolver
from gateway.settings import BrokerSettings, DatabaseSettings, Settings, WebhookSettings
from tests.gateway.conftest import row_counts

URL = "/v1/webhook-subscription"
SECRET = "s" * 40


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Every test here runs in development with an allow-list: it admits exactly its own
    # entries, and nothing else gets in in development either.
    return Settings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/api.db"),
        broker=BrokerSettings(url="memory://"),
        webhooks=WebhookSettings(allowed_hosts=["127.0.0.1:9100", "hooks.internal"]),
    )


Answer = Callable[..., None]


@pytest.fixture
def hooks_resolve_to(api: TestClient) -> Iterator[Answer]:
    """Say what the subscription check's DNS answers for every name."""

    def answer(*addresses: str) -> None:
        def resolve(_host: str, _port: int) -> list[IPAddress]:
            return [ipaddress.ip_address(a) for a in addresses]

        api.app.dependency_overrides[host_resolver] = lambda: resolve  # type: ignore[attr-defined]

    yield answer
    api.app.dependency_overrides.clear()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://0x7f000001:6379/",
        "http://2130706433:6379/",
        "http://127.1:6379/",
        "http://0/",
        "http://0177.0.0.1/",
        "http://localhost/hooks",
        "http://localhost./hooks",
        "http://[::1]:6379/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://10.0.0.8/hooks",
        "http://192.168.0.10/hooks",
        "http://100.64.0.1/hooks",
        "http://224.0.0.251/hooks",
        "https://user:password@app.example/hooks",
        "ftp://app.example/hooks",
    ],
)
def test_internal_or_unsafe_urls_are_refused_naming_the_field(api: TestClient, url: str) -> None:
    before = row_counts(api)
    refused = api.put(URL, json={"url": url, "secret": SECRET})
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "url"
    assert row_counts(api) == before
    assert api.get(URL).status_code == 404


@pytest.mark.parametrize("answer", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1"])
def test_a_name_resolving_inside_is_refused(
    api: TestClient, hooks_resolve_to: Answer, answer: str
) -> None:
    hooks_resolve_to("93.184.215.14", answer)
    refused = api.put(URL, json={"url": "https://hooks.case-app.example/in", "secret": SECRET})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "url"
    assert answer in refused.text
    assert api.get(URL).status_code == 404


def test_a_name_resolving_to_public_addresses_is_accepted(
    api: TestClient, hooks_resolve_to: Answer
) -> None:
    hooks_resolve_to("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    saved = api.put(URL, json={"url": "https://hooks.case-app.example/in", "secret": SECRET})
    assert saved.status_code == 200, saved.text
    assert api.get(URL).json()["url"] == "https://hooks.case-app.example/in"


def test_only_the_allowed_hosts_and_ports_are_let_in(api: TestClient) -> None:
    ok = api.put(URL, json={"url": "http://127.0.0.1:9100/hooks", "secret": SECRET})
    assert ok.status_code == 200, ok.text
    internal = api.put(URL, json={"url": "http://hooks.internal/x", "secret": SECRET})
    assert internal.status_code == 200
    other_port = api.put(URL, json={"url": "http://127.0.0.1:6379/", "secret": SECRET})
    assert other_port.status_code == 422
    assert api.get(URL).json()["url"] == "http://hooks.internal/x"


def test_the_allow_list_is_read_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIAISON_WEBHOOKS__ALLOWED_HOSTS", '["127.0.0.1:9000", "[::1]:8443"]')
    assert Settings().webhooks.allowed_hosts == ["127.0.0.1:9000", "[::1]:8443"]
    monkeypatch.setenv("LIAISON_WEBHOOKS__ALLOWED_HOSTS", '["127.0.0.1:port"]')
    with pytest.raises(ValueError, match=r"127\.0\.0\.1:port"):
        Settings()
