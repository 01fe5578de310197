"""The app as `liaison api` serves it: `create_app`, then the collector told to leave alone
what start-up made.

CPython's cyclic garbage collector scans every tracked object in a full collection. The API
starts with about 215,000 of them (its modules, classes, routes, mappers and schemas), all
alive for the life of the process, so each full collection stopped every request for
100-125 ms (`gc.callbacks` timings under intake load, 2026-12-05): about one per 1,500
submissions, enough to decide the p99 of a ten-second run. `gc.freeze()` moves those objects
to a permanent generation the collector skips (https://docs.python.org/3/library/gc.html#gc.freeze);
a full collection then scans only what requests made since: 1-6 ms. Garbage made by requests
is collected as before. Tests build their apps with `create_app`, so they never freeze a
process that builds many apps.
"""

import gc

from fastapi import FastAPI
from sqlalchemy.orm import configure_mappers

from gateway.api.app import create_app


def create_served_app() -> FastAPI:
    """uvicorn's factory for `liaison api`, in each API process."""
    app = create_app()
    configure_mappers()  # else the first query configures them, after the freeze
    gc.collect()  # start-up garbage is freed, not frozen
    gc.freeze()
    return app
