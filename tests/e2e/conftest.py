"""One stack for the GP adapter end-to-end tests (test_adapters_e2e, test_inbox_browser,
test_isolation), started once: Liaison's processes through the `liaison` CLI, with a practice
directory (YAML) that reaches every kind of practice, each over its real transport:

- Y0000n / N00001: the GP simulator (FHIR REST);
- M81001: an independent FHIR R4 server (Medplum's router over its in-memory repository);
- A81002: GP Connect Send Document over MESH, through NHS England's mesh-sandbox (Liaison is
  X26ABC1, the practice X26ABC2); A81006 the same at X26ABC3, a practice that refuses;
- A81003: the practice inbox (signed in with a password from the environment);
- H00001: a practice whose endpoint holds every request until the test releases it.
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
# How long a worker waits on one call to the hanging practice (its `timeout_seconds`, the
# most the directory allows): the other practice's deliveries must be done well within it.
HANGING_CALL_TIMEOUT_SECONDS = 120


async def _client_gone(receive: Receive) -> None:
    """Returns when the client closes the connection (a worker giving up on its call)."""
    while (await receive())["type"] != "http.disconnect":
        pass


@dataclass
class HangingPractice:
    """A FHIR endpoint that answers nothing until the test releases it, then 503, counting the
    deliveries it holds while their worker still waits; `release()` makes it answer at once
    from then on. The hang has no deadline of its own, so only the test ends it."""

    held_posts: int = 0  # held, their worker still waiting on the call
    most_held_posts: int = 0
    given_up_posts: int = 0  # the worker closed the connection before an answer
    answered: int = 0
    received_posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    loop: asyncio.AbstractEventLoop | None = None
    released: asyncio.Event | None = None
    is_released: bool = False

    def release(self) -> None:
        with self.lock:
            self.is_released = True
            if self.loop is not None and self.released is not None:
                self.loop.call_soon_threadsafe(self.released.set)

    async def _hold(self, receive: Receive) -> bool:
        """True once released; False if the client gave up first."""
        with self.lock:
            if self.released is None:
                self.loop, self.released = asyncio.get_running_loop(), asyncio.Event()
                if self.is_released:
                    self.released.set()
            released = self.released
        answer = asyncio.ensure_future(released.wait())
        gone = asyncio.ensure_future(_client_gone(receive))
        await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
        answer.cancel()
        gone.cancel()
        return released.is_set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (message := await receive())["type"] == "http.request" and message.get("more_body"):
            pass  # the request's body, so that the next receive() reports a disconnect
        post = scope["method"] == "POST"
        with self.lock:
            if post:
                self.received_posts += 1
                self.held_posts += 1
                self.most_held_posts = max(self.most_held_posts, self.held_posts)
        try:
            answered = await self._hold(receive)
        finally:
            with self.lock:
                if post:
                    self.held_posts -= 1
        with self.lock:
            if answered:
                self.answered += 1
            elif post:
                self.given_up_posts += 1
        if not answered:
            return
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
            # A worker really would sit in the call until the test releases it.
            "timeout_seconds": HANGING_CALL_TIMEOUT_SECONDS,
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
                "LIAISON_MESH__URL": mesh.url,
                "LIAISON_MESH__MAILBOX": LIAISON_MAILBOX,
                "LIAISON_MESH__PASSWORD": MESH_PASSWORD,
                "LIAISON_MESH__SHARED_KEY": MESH_SHARED_KEY,
                "LIAISON_MESH__POLL_INTERVAL_SECONDS": "1",
                "LIAISON_MESH__TRACKING_INTERVAL_SECONDS": "1",
                "LIAISON_PRACTICE_SECRET_E2E_INBOX_PASSWORD": INBOX_PASSWORD,
            },
        )
        path = workdir / "practices.yaml"
        path.write_text(yaml.safe_dump(_directory(stack, medplum, hanging_url)))
        stack.env["LIAISON_DELIVERY__PRACTICE_DIRECTORY"] = str(path)
        try:
            stack.start()
            yield AdaptersStack(stack, medplum, mesh, hanging)
        finally:
            hanging.release()
            stack.stop()
