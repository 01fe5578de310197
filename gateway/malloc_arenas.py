"""Fewer glibc malloc arenas for Liaison's long-running processes.

glibc gives each thread that allocates concurrently an arena of its own, up to eight per
core (mallopt(3), M_ARENA_MAX), and memory freed in one arena is not reused by another. The
API serves synchronous routes from a pool of threads, so under load its resident set grows
by arena rather than by what is live. Two arenas keep the contention low on the machines
Liaison runs on while bounding that growth. An operator's own MALLOC_ARENA_MAX wins.
"""

import ctypes
import ctypes.util
import os
from typing import Final

ARENAS: Final = 2
_M_ARENA_MAX: Final = -8  # glibc's malloc.h


def _mallopt(option: int, value: int) -> None:
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is not None:  # none outside glibc (musl, macOS): nothing to tune
        mallopt(option, value)


def limit_arenas() -> None:
    """For this process's threads from now on (call it before any are started), and through
    the environment for the processes it starts."""
    wanted = int(os.environ.get("MALLOC_ARENA_MAX", ARENAS))
    os.environ["MALLOC_ARENA_MAX"] = str(wanted)
    _mallopt(_M_ARENA_MAX, wanted)
