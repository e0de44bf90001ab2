"""StateBatch keeps exact-size values: orjson's output buffers must not live on in a table."""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import orjson

from streams.batching import StateBatch


def test_staged_values_are_exact_size_copies() -> None:
    table = SimpleNamespace(data={})
    states = StateBatch(table, producer=None, partitions=4)
    count = 2000
    tracemalloc.start()
    try:
        for n in range(count):
            states.set(str(n).encode(), orjson.dumps({"v": 1, "t": [n, 2, 3], "c": "0.01"}), n % 4)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert states.get(b"7") == orjson.dumps({"v": 1, "t": [7, 2, 3], "c": "0.01"})
    # A key, a ~40-byte value and a dict slot each; orjson's own objects are 4 KiB each.
    assert held / count < 400, held / count
