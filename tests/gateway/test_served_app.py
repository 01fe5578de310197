"""The app `liaison api` serves: its start-up objects are out of the collector's way."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc
from fastapi.testclient import TestClient
from gateway.api.served import create_served_app

app = create_served_app()
frozen = gc.get_freeze_count()
with TestClient(app) as client:
    assert client.get("/healthz").json() == {"status": "ok"}
gc.collect()
scanned = len(gc.get_objects())
# A full collection scans what the requests made, not the start-up's modules, classes,
# routes and mappers (over 100,000 objects, alive as long as the process).
assert frozen > 100_000, frozen
assert scanned < frozen // 10, (scanned, frozen)
"""


def test_a_full_collection_skips_what_start_up_made(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LIAISON_DATA_DIR": str(tmp_path),
        "LIAISON_DATABASE__URL": f"sqlite:///{tmp_path}/liaison.db",
    }
    subprocess.run([sys.executable, "-c", PROBE], check=True, timeout=120, cwd=ROOT, env=env)
