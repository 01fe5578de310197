"""One stack for the GP adapter end-to-end tests (test_adapters_e2e, test_inbox_browser,
test_isolation), started once: Liaison's processes through the `liaison` CLI, with a practice
directory (YAML) that reaches every kind of practice, each over its real transport:

- Y0000n / N00001: the GP simulator (FHIR REST);
- M81001: an independent FHIR R4 server (Medplum's router over its in-memory repository);
- A81002: GP Connect Send Document over MESH, through NHS England's mesh-sandbox (Liaison is
  X26ABC1, the practice X26ABC2); A81006 the same at X26ABC3, a practice that refuses;
- A81003: the practice inbox (signed in with a password from the environment);
- H00001: a practice whose endpoint holds every request (30 s and more) until released.
"""

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from starlette.types import Receive, Scope, Send

from tests.e2e.stack import Stack
from tests.peers.servers import (
    LIAISON_MAILBOX,
    MESH_PASSWORD,
    MESH_SHARED_KEY,
    PRACTICE_MAILBOX,
    MedplumPeer,
    MeshSandbox,
    medplum_peer,
    mesh_sandbox,
    serve_in_thread,
)

INBOX_PASSWORD = "e2e practice inbox password"
# The third of mesh-sandbox's canned mailboxes: the MESH practice that refuses.
REFUSING_MAILBOX = "X26ABC3"
# The hanging practice holds each request until the test releases it, and at most this long:
# at least the 30 s, with room for a slow machine.
HANG_SECONDS = 120.0


@dataclass
class HangingPractice:
    """A FHIR endpoint that answers nothing until released (or HANG_SECONDS), then 503,
    counting what it holds; `release()` makes it answer at once from then on."""

    held_posts: int = 0
    most_held_posts: int = 0
    answered: int = 0
    received_posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    loop: asyncio.AbstractEventLoop | None = None
    released: asyncio.Event | None = None

    def release(self) -> None:
        if self.loop is not None and self.released is not None:
            self.loop.call_soon_threadsafe(self.released.set)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.released is None:
            self.loop, self.released = asyncio.get_running_loop(), asyncio.Event()
        post = scope["method"] == "POST"
        with self.lock:
            if post:
                self.received_posts += 1
                self.held_posts += 1
                self.most_held_posts = max(self.most_held_posts, self.held_posts)
        try:
            await asyncio.wait_for(self.released.wait(), timeout=HANG_SECONDS)
        except TimeoutError:
            pass
        finally:
            with self.lock:
                if post:
                    self.held_posts -= 1
                self.answered += 1
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"application/fhir+json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"resourceType":"OperationOutcome"}'})


@dataclass
class AdaptersStack:
    stack: Stack
    medplum: MedplumPeer
    mesh: MeshSandbox
    hanging: HangingPractice


def _directory(stack: Stack, medplum: MedplumPeer, hanging_url: str) -> dict[str, Any]:
    simulator = f"{stack.simulator_url}/fhir"
    practices: list[dict[str, Any]] = [
        {"ods_code": f"Y0000{n}", "adapter": "simulator", "base_url": simulator}
        for n in range(1, 6)
    ]
    practices += [
        {"ods_code": "N00001", "adapter": "simulator", "base_url": simulator},
        {"ods_code": "M81001", "adapter": "fhir", "base_url": medplum.base_url},
        {"ods_code": "A81002", "adapter": "mesh", "mailbox": PRACTICE_MAILBOX},
        {"ods_code": "A81006", "adapter": "mesh", "mailbox": REFUSING_MAILBOX},
        {
            "ods_code": "A81003",
            "adapter": "inbox",
            "inbox_users": [
                {
                    "username": "reception",
                    "password_env": "LIAISON_PRACTICE_SECRET_E2E_INBOX_PASSWORD",
                }
            ],
        },
        {
            "ods_code": "H00001",
            "adapter": "fhir",
            "base_url": f"{hanging_url}/fhir",
            # Long enough that a worker really would sit there for the whole hang.
            "timeout_seconds": 40,
            "max_in_flight": 2,
        },
    ]
    return {"practices": practices}


@pytest.fixture(scope="session")
def adapters_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdaptersStack]:
    workdir = tmp_path_factory.mktemp("adapters")
    hanging = HangingPractice()
    with (
        medplum_peer(workdir) as medplum,
        mesh_sandbox(workdir) as mesh,
        serve_in_thread(hanging) as hanging_url,
    ):
        stack = Stack(
            workdir=workdir,
            database_url=f"sqlite:///{workdir}/liaison.db",
            broker_url=f"sqla+sqlite:///{workdir}/broker.db",
            extra_env={
                "LIAISON_MESH_URL": mesh.url,
                "LIAISON_MESH_MAILBOX": LIAISON_MAILBOX,
                "LIAISON_MESH_PASSWORD": MESH_PASSWORD,
                "LIAISON_MESH_SHARED_KEY": MESH_SHARED_KEY,
                "LIAISON_MESH_POLL_INTERVAL_SECONDS": "1",
                "LIAISON_MESH_TRACKING_INTERVAL_SECONDS": "1",
                "LIAISON_PRACTICE_SECRET_E2E_INBOX_PASSWORD": INBOX_PASSWORD,
            },
        )
        path = workdir / "practices.yaml"
        path.write_text(yaml.safe_dump(_directory(stack, medplum, hanging_url)))
        stack.env["LIAISON_PRACTICE_DIRECTORY"] = str(path)
        try:
            stack.start()
            yield AdaptersStack(stack, medplum, mesh, hanging)
        finally:
            hanging.release()
            stack.stop()
