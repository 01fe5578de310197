"""A production install runs the services profile: a fresh virtualenv with Liaison's runtime
dependencies only (no dev extras, as `make install` does) starts the API, a worker and beat on
PostgreSQL with Redis and with RabbitMQ, and delivers a recommendation to the GP simulator.

The rest of the suite runs in the dev environment, whose extras bring packages the runtime
needs but never declared (kombu's Redis transport imports `packaging`); only a clean
environment shows that."""

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import sample_recommendation
from tests.e2e.stack import Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.services]

REPO = Path(__file__).resolve().parents[2]
# What `pip install .` needs from the work tree: the project file, its readme, the packages.
SOURCES = ("pyproject.toml", "README.md", "gateway", "adapters", "fhir_profiles", "workers")
# The pip the Makefile installs into .venv.
PIP = "pip==25.3"
DELIVERED_OR_LATER = {
    "delivered",
    "accepted",
    "appointment-needed",
    "prescription-issued",
    "ready-to-collect",
    "collected",
}


def _copy_sources(target: Path) -> None:
    # A copy, so the build leaves nothing in the work tree and uncommitted edits are tested.
    target.mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def production_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The interpreter of a fresh virtualenv holding `pip install .` and nothing else."""
    root = tmp_path_factory.mktemp("production-install")
    source = root / "liaison"
    _copy_sources(source)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    for requirement in (PIP, str(source)):
        done = subprocess.run([*pip, requirement], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"pip install {requirement}:\n{done.stderr[-4000:]}"
    python = str(venv / "bin" / "python")
    # No dev extra came with it: what runs below runs on the declared dependencies alone.
    found = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('pytest') is None)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    assert found.stdout.strip() == "True", "the production virtualenv has the dev extras"
    return python


@contextlib.contextmanager
def _production_stack(
    workdir: Path, python: str, database_url: str, broker_url: str
) -> Iterator[Stack]:
    stack = Stack(workdir=workdir, database_url=database_url, broker_url=broker_url, python=python)
    # The processes must import the installed copy, never this work tree.
    stack.env.pop("PYTHONPATH", None)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def _deliver_one(stack: Stack) -> None:
    with stack.client() as client:
        created = client.post(
            "/v1/recommendations",
            json=sample_recommendation("Y00001"),
            headers={"Idempotency-Key": "production-install"},
        )
        assert created.status_code == 202, created.text
        rec_id = created.json()["id"]

        def status() -> Any:
            body = client.get(f"/v1/recommendations/{rec_id}").json()
            return body["status"] in DELIVERED_OR_LATER and body

        delivered = wait_for(status, timeout=90, what="the recommendation to be delivered")
    assert "delivered" in [entry["status"] for entry in delivered["timeline"]]
    tasks = [r for r in stack.received_at_gp() if r["type"] == "Task"]
    assert [r["ods_code"] for r in tasks] == ["Y00001"]


def test_production_install_delivers_on_postgres_and_redis(
    production_python: str, tmp_path: Path, postgres_url: str, redis_broker_url: str
) -> None:
    with _production_stack(tmp_path, production_python, postgres_url, redis_broker_url) as stack:
        _deliver_one(stack)


def test_production_install_delivers_on_postgres_and_rabbitmq(
    production_python: str, tmp_path: Path, postgres_url: str, rabbitmq_broker_url: str
) -> None:
    with _production_stack(tmp_path, production_python, postgres_url, rabbitmq_broker_url) as stack:
        _deliver_one(stack)
