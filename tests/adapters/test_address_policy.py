"""Which hosts a webhook may reach, in every spelling a URL can give an address."""

import ipaddress

import pytest

from adapters.address_policy import (
    AllowedHosts,
    InvalidHost,
    address_refusal,
    host_refusal,
    parse_address,
    resolved_refusal,
    split_host_port,
    url_refusal,
)

NOTHING_ALLOWED = AllowedHosts()


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x0", "0.0.0.0"),
        ("169.254.169.254", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
    ],
)
def test_every_address_spelling_is_read_as_the_address(spelling: str, address: str) -> None:
    assert parse_address(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "name", ["app.example", "hooks.case-app.nhs.uk", "localhost", "x1.example"]
)
def test_names_are_not_addresses(name: str) -> None:
    assert parse_address(name) is None


@pytest.mark.parametrize("host", ["1.2.3.999", "1.2.3.4.5", "09.1.1.1", "a.1", "[fe80::1%25eth0]"])
def test_malformed_numeric_hosts_are_refused_not_resolved(host: str) -> None:
    with pytest.raises(InvalidHost):
        parse_address(host)
    assert host_refusal(host) is not None


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("0x7f000001", "loopback"),
        ("2130706433", "loopback"),
        ("127.1", "loopback"),
        ("[::1]", "loopback"),
        ("0", "unspecified"),
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("10.0.0.7", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("[fd00::1]", "private"),
        ("169.254.169.254", "link-local"),
        ("[fe80::1]", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("[ff02::1]", "multicast"),
        ("[::ffff:127.0.0.1]", "IPv4-mapped"),
        ("[::ffff:8.8.8.8]", "IPv4-mapped"),
        ("[::127.0.0.1]", "IPv4-compatible"),
        ("[64:ff9b::7f00:1]", "127.0.0.1"),  # NAT64 of loopback
        ("[2002:7f00:1::]", "127.0.0.1"),  # 6to4 of loopback
        ("255.255.255.255", "refused"),  # limited broadcast
        ("192.0.2.1", "refused"),  # documentation range (RFC 5737)
    ],
)
def test_internal_addresses_are_refused_in_every_spelling(host: str, kind: str) -> None:
    refusal = host_refusal(host)
    assert refusal is not None
    assert kind in refusal


@pytest.mark.parametrize("name", ["localhost", "LOCALHOST", "localhost.", "api.localhost"])
def test_localhost_names_are_refused_without_asking_dns(name: str) -> None:
    refusal = host_refusal(name)
    assert refusal is not None
    assert "loopback" in refusal


@pytest.mark.parametrize(
    "host", ["93.184.215.14", "8.8.8.8", "[2606:4700:4700::1111]", "hooks.case-app.example"]
)
def test_public_hosts_pass(host: str) -> None:
    assert host_refusal(host) is None


def test_a_name_is_refused_when_any_of_its_addresses_is_internal() -> None:
    public = ipaddress.ip_address("93.184.215.14")
    internal = ipaddress.ip_address("10.1.2.3")
    assert resolved_refusal("hooks.example", [public]) is None
    refusal = resolved_refusal("hooks.example", [public, internal])
    assert refusal is not None
    assert "10.1.2.3" in refusal
    assert address_refusal(internal) == "private"


@pytest.mark.parametrize(
    ("scheme", "userinfo", "reason"),
    [
        ("ftp", False, "http or https"),
        ("file", False, "http or https"),
        ("gopher", False, "http or https"),
        ("https", True, "user name or password"),
    ],
)
def test_other_schemes_and_user_info_are_refused(scheme: str, userinfo: bool, reason: str) -> None:
    refusal = url_refusal(
        scheme=scheme,
        host="hooks.example",
        port=None,
        has_userinfo=userinfo,
        allowed=AllowedHosts.parse(["hooks.example"]),
    )
    assert refusal is not None
    assert reason in refusal


def test_the_allow_list_admits_exactly_its_hosts_and_ports() -> None:
    allowed = AllowedHosts.parse(["127.0.0.1:9000", "hooks.internal", "[::1]:8443"])

    def refusal(host: str, port: int | None, scheme: str = "http") -> str | None:
        return url_refusal(scheme=scheme, host=host, port=port, has_userinfo=False, allowed=allowed)

    assert refusal("127.0.0.1", 9000) is None
    assert refusal("2130706433", 9000) is None  # the same address, spelled otherwise
    assert refusal("127.0.0.1", 6379) is not None  # another port on it stays refused
    assert refusal("hooks.internal", 80) is None
    assert refusal("HOOKS.INTERNAL.", 8080) is None  # a bare host allows any port
    assert refusal("::1", 8443, "https") is None
    assert refusal("::1", None, "https") is not None  # 443 is not 8443
    assert refusal("localhost", 9000) is not None


@pytest.mark.parametrize(
    "entry", ["", "host:port", "a:1:2", "[::1", "127.0.0.1:70000", "1.2.3.999"]
)
def test_allow_list_entries_must_be_host_or_host_port(entry: str) -> None:
    with pytest.raises(ValueError, match=r"not|unclosed|range"):
        split_host_port(entry)
