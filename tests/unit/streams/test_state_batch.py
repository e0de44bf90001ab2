"""State values are stored as exact-size copies: orjson's output buffers must not live on in a table."""

from __future__ import annotations

import tracemalloc

import orjson

from streams.runner.io import exact_copy


def test_stored_values_are_exact_size_copies() -> None:
    count = 2000
    tracemalloc.start()
    try:
        held_values = [exact_copy(orjson.dumps({"v": 1, "t": [n, 2, 3], "c": "0.01"})) for n in range(count)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held_values[7] == orjson.dumps({"v": 1, "t": [7, 2, 3], "c": "0.01"})
    # A ~40-byte value and a list slot each; orjson's own objects are 4 KiB each.
    assert held / count < 400, held / count
