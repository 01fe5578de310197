"""Liaison's gateway: the API, the domain, the store and the command line."""

import sys

# httpx's own command-line client (`httpx._main`, the `httpx` console script) imports rich
# and pygments when they are installed (typer, the import linter and the test tools install
# them): 4 MB in every Liaison process, which never runs it. With this entry httpx's
# `from ._main import main` fails as if they were absent, and httpx defines its stand-in.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable"
