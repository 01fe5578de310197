"""What `liaison dev` starts beside Liaison's own processes, and the banner it prints.

Each outside service of the development stack has a stand-in (a `liaison` sub-command) that
is started only when no real service is configured for it: a developer who points
LIAISON_EMAIL__SMTP_HOST/PORT at a real relay, or LIAISON_NOTIFY__BASE_URL at a Notify-compatible
server, gets that service, and no stand-in competing for its port. One function per service,
"start unless configured", each returning a `Peer`.
"""

from dataclasses import dataclass, field

from gateway.practice_directory import (
    DEV_MESH_FILING,
    DEV_MESH_FILING_MAILBOX,
    DEV_MESH_REFUSING,
    DEV_MESH_REFUSING_MAILBOX,
)
from gateway.settings import Settings

# mesh-sandbox's canned mailboxes (its store/data/mailboxes.jsonl): Liaison is X26ABC1, the
# simulated practices X26ABC2 and X26ABC3; every password is "password", the shared key
# "Banana".
DEV_MESH_LIAISON_MAILBOX = "X26ABC1"
DEV_MESH_PASSWORD = "password"  # noqa: S105 - the sandbox's published canned password
DEV_MESH_SHARED_KEY = "Banana"


@dataclass(frozen=True)
class Peer:
    """One outside service: the stand-in to start (a `liaison` sub-command), or None when a
    real service is configured; and the banner line that says which one is used."""

    label: str
    stand_in: str | None
    where: str


def gp_simulator(settings: Settings) -> Peer:
    """The GP simulator serves the development directory's Y0000n practices: always started.
    Y00003 also offers GP Connect appointment booking (/v1/recommendations/{id}/slots)."""
    root = f"http://{settings.development.simulator_host}:{settings.development.simulator_port}"
    return Peer(
        "GP simulator",
        "simulator",
        f"{settings.development.simulator_base_url}  (received: {root}/_sim/received; "
        f"Y00003 books appointments: {root}/_sim/appointments)",
    )


def mail(settings: Settings) -> Peer:
    """The local SMTP sink, unless LIAISON_EMAIL__SMTP_HOST or LIAISON_EMAIL__SMTP_PORT names a
    relay."""
    relay = f"{settings.email.smtp_host}:{settings.email.smtp_port}"
    if settings.is_configured("email.smtp_host", "email.smtp_port"):
        return Peer("Email", None, f"SMTP relay {relay} (configured; no local mail sink)")
    return Peer(
        "Email",
        "mailsink",
        f"mail sink http://127.0.0.1:{settings.development.mail_view_port}/ ({relay})",
    )


def notify(settings: Settings) -> Peer:
    """The local GOV.UK Notify stand-in, unless LIAISON_NOTIFY__BASE_URL names a server."""
    if settings.is_configured("notify.base_url"):
        return Peer(
            "SMS",
            None,
            f"Notify API {settings.notify.base_url} (configured; no local Notify stand-in)",
        )
    return Peer("SMS", "notifysink", f"Notify stand-in {settings.notify.base_url}/_sink/messages")


@dataclass(frozen=True)
class MeshRoute:
    """The MESH route of the development stack: the banner line, the stand-ins to start
    (`liaison mesh-sandbox`, `liaison mesh-practice`) and the settings they give Liaison."""

    peer: Peer | None
    stand_ins: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def mesh_route(settings: Settings, *, sandbox_installed: bool) -> MeshRoute:
    """mesh-sandbox and the simulated MESH practice, unless LIAISON_MESH__URL names a real
    MESH (then it is used as it is) or mesh-sandbox is not installed (a dev extra)."""
    if settings.mesh.url is not None:
        return MeshRoute(Peer("MESH", None, f"{settings.mesh.url} (configured; no sandbox)"))
    if not sandbox_installed:
        return MeshRoute(None)
    url = f"http://127.0.0.1:{settings.development.mesh_sandbox_port}"
    where = (
        f"mesh-sandbox {url} (simulated practices: {DEV_MESH_FILING} at "
        f"{DEV_MESH_FILING_MAILBOX} files each letter, {DEV_MESH_REFUSING} at "
        f"{DEV_MESH_REFUSING_MAILBOX} refuses it)"
    )
    env = {
        "LIAISON_MESH__URL": url,
        "LIAISON_MESH__MAILBOX": DEV_MESH_LIAISON_MAILBOX,
        "LIAISON_MESH__PASSWORD": DEV_MESH_PASSWORD,
        "LIAISON_MESH__SHARED_KEY": DEV_MESH_SHARED_KEY,
        # A demonstration's pace, not MESH's recommended five minutes.
        "LIAISON_MESH__POLL_INTERVAL_SECONDS": "2",
        "LIAISON_MESH__TRACKING_INTERVAL_SECONDS": "2",
    }
    return MeshRoute(Peer("MESH", "mesh-sandbox", where), ["mesh-sandbox", "mesh-practice"], env)


def peers(settings: Settings) -> list[Peer]:
    return [gp_simulator(settings), mail(settings), notify(settings)]


def banner(
    settings: Settings,
    outside: list[Peer],
    *,
    ready: bool,
    token: str,
    inbox: tuple[str, str, str] | None,
) -> str:
    """What a newcomer needs, each with how to use it. `inbox` is the development inbox
    practice's (ODS code, username, password), when there is one."""
    base = settings.api.public_base_url.rstrip("/")
    hours = settings.security.token_ttl_seconds / 3600
    demo = settings.development.demo_client_id
    lines = [
        f"\nLiaison is {'up' if ready else 'starting (slowly)'}:",
        f"  API docs        {base}/docs",
        f"  Console         {base}/console/  (sign in by pasting the demo token: it has the "
        "ops scope)",
    ]
    if inbox is not None:
        ods_code, username, password = inbox
        lines.append(
            f"  Practice inbox  {base}/inbox  (practice {ods_code}, username {username}, "
            f"password {password})"
        )
    lines += [f"  {peer.label:<15} {peer.where}" for peer in outside]
    lines += [
        f"  Demo token      {token}",
        f"                  (client {demo}; scopes recommendations, fhir, "
        f"ops; valid {hours:g} h; `liaison token --client {demo}` "
        "prints a new one)",
        "Try `liaison demo` in another terminal. Ctrl-C stops everything.",
    ]
    return "\n".join(lines) + "\n"
