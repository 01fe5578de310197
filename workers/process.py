"""The Celery app of a worker or beat process, built once from that process's settings.

`liaison worker` and `liaison beat` start `celery -A workers.process ...`; an operator's own
Celery command names it too (`celery -A workers.process flower`). Celery's command line finds
an app as a module attribute only, so importing this module reads the environment
(LIAISON_*, through `get_settings`): only the process that runs Celery imports it. Anything
else builds its own app with `workers.app.create_celery_app(settings)`.
"""

from typing import Final

from celery import Celery

from gateway.settings import get_settings
from workers.app import create_celery_app

# The same Settings the tasks' runtime reads (workers/runtime.py): one per process.
app: Final[Celery] = create_celery_app(get_settings())
