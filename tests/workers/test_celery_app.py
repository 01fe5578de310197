"""The Celery app is built from the settings it is given: importing the workers' app and
tasks reads no environment, so a test, a benchmark or a tool can build an app on its own
broker, and only the process that runs Celery reads LIAISON_* (workers/process.py)."""

import json
import os
import subprocess
import sys

from gateway.queue_names import Queue
from gateway.settings import BrokerSettings, DeliverySettings, Settings
from workers.app import create_celery_app

# Settings() would refuse this environment (the pool is not one Celery has), so an import
# that built the app from the environment fails instead of passing quietly.
_POISONED = {
    "LIAISON_BROKER__URL": "invalid://",
    "LIAISON_DATABASE__URL": "invalid",
    "LIAISON_WORKER__POOL": "not-a-pool",
}

# Records the settings built (pydantic-settings, reading the whole environment for each), and
# every LIAISON_* variable looked up by name: os.environ[...], .get, os.getenv all go through
# __getitem__. A copy of the whole environment (.items(), as wsgiref takes one when imported)
# names no variable and is not counted.
_RECORD_AND_IMPORT = """
import json, os, sys
import pydantic_settings
built, read = [], set()
environ, settings_init = type(os.environ), pydantic_settings.BaseSettings.__init__
getitem = environ.__getitem__
def recording_getitem(self, key):
    if str(key).startswith("LIAISON_") and sys._getframe(1).f_code.co_name != "__iter__":
        read.add(key)
    return getitem(self, key)
def recording_init(self, *args, **kwargs):
    built.append(type(self).__name__)
    settings_init(self, *args, **kwargs)
environ.__getitem__ = recording_getitem
pydantic_settings.BaseSettings.__init__ = recording_init
import workers.app, workers.tasks
print(json.dumps({"built": built, "read": sorted(read)}))
"""


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_the_app_and_tasks_reads_no_environment() -> None:
    ran = _run(_RECORD_AND_IMPORT, _POISONED)
    assert ran.returncode == 0, ran.stderr
    # Only FHIR's canonical base, read once per process when fhir_profiles is first imported
    # (fhir_profiles/canonical.py): the URL every FHIR identifier system is built on.
    assert json.loads(ran.stdout.splitlines()[-1]) == {"built": ["CanonicalSettings"], "read": []}


def test_the_app_has_the_given_broker_routes_and_schedule() -> None:
    settings = Settings(
        broker=BrokerSettings(url="redis://broker.example:6379/3"),
        delivery=DeliverySettings(relay_interval_seconds=2.5),
    )
    app = create_celery_app(settings)
    assert app.conf.broker_url == "redis://broker.example:6379/3"
    assert app.conf.broker_transport_options == {"visibility_timeout": 3600}
    assert app.conf.task_default_queue == Queue.CONTROL
    assert app.conf.task_routes["liaison.deliver"] == {"queue": Queue.DELIVERY}
    assert app.conf.task_routes["liaison.notify"] == {"queue": Queue.NOTIFY}
    assert app.conf.task_routes["liaison.poll_practice"] == {"queue": Queue.POLL}
    assert app.conf.beat_schedule["relay-outbox"]["schedule"] == 2.5


def test_each_app_runs_the_tasks_and_sends_through_itself() -> None:
    import workers.tasks  # noqa: F401  (what a worker imports: the app's `include`)

    first = create_celery_app(Settings(broker=BrokerSettings(url="memory://")))
    second = create_celery_app(Settings(broker=BrokerSettings(url="redis://broker.example:6379/0")))
    for app in (first, second):
        for name in ("liaison.deliver", "liaison.relay_outbox", "liaison.send_digest"):
            # The task's own app is the one a task publishes with (`self.app`).
            assert app.tasks[name].app is app


def test_the_celery_command_finds_the_process_app_built_from_its_environment() -> None:
    script = (
        "from celery.app.utils import find_app\n"
        "app = find_app('workers.process')\n"
        "print(app.conf.broker_url, app.conf.task_routes['liaison.deliver']['queue'])\n"
    )
    ran = _run(script, {"LIAISON_BROKER__URL": "redis://process.example:6379/1"})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["redis://process.example:6379/1", Queue.DELIVERY]
