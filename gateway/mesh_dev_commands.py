"""`liaison mesh-sandbox` and `liaison mesh-practice`: the MESH route of the development stack
(started by `liaison dev` when mesh-sandbox is installed and LIAISON_MESH__URL is unset).

mesh-sandbox is NHS England's MESH API sandbox (pypi: mesh-sandbox), run in memory with its
canned mailboxes; the simulated practices (adapters.standins.mesh_practice) collect
Liaison's GP Connect Send Document messages from their mailboxes and answer with ITK3
responses. Both import their code lazily: production processes never load a stand-in.
"""

import os
import threading

import typer
import uvicorn

from gateway.dev_stack import DEV_MESH_PASSWORD, DEV_MESH_SHARED_KEY
from gateway.practice_directory import DEV_MESH_FILING_MAILBOX, DEV_MESH_REFUSING_MAILBOX
from gateway.settings import get_settings

# The simulated practice's pace: a demonstration, not a real practice's working day.
ANSWER_EVERY_SECONDS = 2.0


def register(app: typer.Typer) -> None:
    @app.command("mesh-sandbox")
    def mesh_sandbox() -> None:
        """Run mesh-sandbox in memory (development only; canned mailboxes)."""
        # Read by mesh-sandbox when it is imported: in memory, MESH authentication checked.
        os.environ.update(
            {"STORE_MODE": "memory", "AUTH_MODE": "no_auth", "SHARED_KEY": DEV_MESH_SHARED_KEY}
        )
        port = get_settings().development.mesh_sandbox_port
        uvicorn.run("mesh_sandbox.api:app", host="127.0.0.1", port=port, log_level="warning")

    @app.command("mesh-practice")
    def mesh_practice() -> None:
        """Run the simulated MESH practices (development only): the one at X26ABC2 files
        each Send Document letter, the one at X26ABC3 refuses it."""
        from mesh_client import MeshClient

        from adapters.standins.mesh_practice import PracticeScript, SimulatedMeshPractice, run

        url = get_settings().mesh.url
        if url is None:
            typer.echo("LIAISON_MESH__URL is not set: no MESH to answer on", err=True)
            raise typer.Exit(2)
        # 30001 filed; 30003 "Patient no longer at this clinical setting" (ITK3 codes).
        scripts = {
            DEV_MESH_FILING_MAILBOX: PracticeScript(),
            DEV_MESH_REFUSING_MAILBOX: PracticeScript(business="30003"),
        }
        threads = [
            threading.Thread(
                target=run,
                args=(
                    SimulatedMeshPractice(
                        MeshClient(
                            url, mailbox, DEV_MESH_PASSWORD, shared_key=DEV_MESH_SHARED_KEY.encode()
                        ),
                        script,
                        mailbox,
                    ),
                ),
                kwargs={"every_seconds": ANSWER_EVERY_SECONDS},
                daemon=True,
            )
            for mailbox, script in scripts.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
