"""What `liaison dev` starts: a stand-in for each outside service left unconfigured, the real
service when one is configured, and a banner that says which, with how to sign in."""

import pytest

from gateway import dev_stack
from gateway.settings import EmailSettings, MeshSettings, NotifySettings, Settings


@pytest.fixture(autouse=True)
def _nothing_configured_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LIAISON_EMAIL__SMTP_HOST",
        "LIAISON_EMAIL__SMTP_PORT",
        "LIAISON_NOTIFY__BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def _stand_ins(settings: Settings) -> list[str | None]:
    return [peer.stand_in for peer in dev_stack.peers(settings)]


def test_with_nothing_configured_every_stand_in_starts() -> None:
    assert _stand_ins(Settings()) == ["simulator", "mailsink", "notifysink"]


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (
            {"email": EmailSettings(smtp_host="relay.example.nhs.uk")},
            ["simulator", None, "notifysink"],
        ),
        ({"email": EmailSettings(smtp_port=2525)}, ["simulator", None, "notifysink"]),
        (
            {"notify": NotifySettings(base_url="https://notify.example")},
            ["simulator", "mailsink", None],
        ),
        # Configured even when the value equals the default: someone said to use a real one.
        ({"email": EmailSettings(smtp_port=8025)}, ["simulator", None, "notifysink"]),
    ],
)
def test_a_configured_service_replaces_its_stand_in(
    configured: dict[str, object], expected: list[str | None]
) -> None:
    assert _stand_ins(Settings(**configured)) == expected  # type: ignore[arg-type]


def test_the_banner_names_the_real_services_and_how_to_sign_in() -> None:
    settings = Settings(
        email=EmailSettings(smtp_host="relay.example.nhs.uk"),
        notify=NotifySettings(base_url="https://notify.example"),
    )
    text = dev_stack.banner(
        settings,
        dev_stack.peers(settings),
        ready=True,
        token="the-token",
        inbox=("Y00100", "reception", "the-password"),
    )
    assert "SMTP relay relay.example.nhs.uk:8025 (configured; no local mail sink)" in text
    assert "Notify API https://notify.example (configured; no local Notify stand-in)" in text
    assert (
        "http://127.0.0.1:8000/console/  (sign in by pasting the demo token: it has the ops" in text
    )
    assert (
        "http://127.0.0.1:8000/inbox  (practice Y00100, username reception, password "
        "the-password)" in text
    )
    assert "Demo token      the-token" in text


def test_the_mesh_route_starts_mesh_sandbox_and_the_simulated_practices() -> None:
    route = dev_stack.mesh_route(Settings(), sandbox_installed=True)
    assert route.stand_ins == ["mesh-sandbox", "mesh-practice"]
    # Liaison's processes are pointed at the sandbox, as its canned mailbox X26ABC1.
    assert route.env["LIAISON_MESH__URL"] == "http://127.0.0.1:8030"
    assert route.env["LIAISON_MESH__MAILBOX"] == "X26ABC1"
    assert route.peer is not None
    assert "Y00010" in route.peer.where
    assert "Y00011" in route.peer.where


def test_a_configured_mesh_is_used_and_without_mesh_sandbox_nothing_starts() -> None:
    real = dev_stack.mesh_route(
        Settings(mesh=MeshSettings(url="https://mesh.example")), sandbox_installed=True
    )
    assert (real.stand_ins, real.env) == ([], {})
    assert real.peer is not None
    assert "configured" in real.peer.where
    absent = dev_stack.mesh_route(Settings(), sandbox_installed=False)
    assert (absent.peer, absent.stand_ins, absent.env) == (None, [], {})
