"""The worker's collector settings (streams/runner/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.runner.gc_tuning import MIDDLE_THRESHOLD, OLD_THRESHOLD, YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_tune_gc_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    gc.unfreeze()
    survivor = [object()]  # a container alive at start-up, like the worker's modules
    tune_gc()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD) == (50_000, 20, 10)
    assert gc.get_freeze_count() >= 1
    assert all(o is not survivor for o in gc.get_objects())  # frozen: never walked again
    # Cyclic garbage made after start-up is still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
