"""The API and worker processes bound glibc's malloc arenas, and an operator's choice wins."""

import os

import pytest

from gateway import malloc_arenas


def test_the_default_is_two_arenas_for_the_process_and_those_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(
        malloc_arenas, "_mallopt", lambda option, value: calls.append((option, value))
    )
    malloc_arenas.limit_arenas()
    assert calls == [(-8, 2)]
    assert os.environ["MALLOC_ARENA_MAX"] == "2"


def test_an_operators_malloc_arena_max_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(
        malloc_arenas, "_mallopt", lambda option, value: calls.append((option, value))
    )
    malloc_arenas.limit_arenas()
    assert calls == [(-8, 4)]
