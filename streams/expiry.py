"""Which keys of a state table have gone unwritten for longer than its time to live.

Dedup state grows with what it remembers: one ledger identity per response, one window per
scope and window, one stream state per source file. It is bounded by forgetting what was not
written for ``ttl`` seconds of processing time (the worker's clock, like Flink's state TTL;
event time cannot serve: a backfill of last year's history must not expire as it arrives).

Keys are kept in the order they were last written, so finding the expired ones costs only
the expired ones. Keys recovered from a changelog at start-up or after a rebalance join at
the moment they were recovered: a restart may lengthen a key's life by up to one ``ttl``,
never shorten it. Memory: one ordered-dict entry per live key (measured in bench/RESULTS.md).

What forgetting means is the owner's choice (streams/README.md, "State and its TTL"): a
forgotten stream re-counts lines published again after ``ttl``, a forgotten identity
re-counts a response reported again after ``ttl``, a forgotten window is final already.
"""

from __future__ import annotations

from collections import OrderedDict


class Expiry:
    """Last-write times of one table's keys, with the partition each key's changelog uses."""

    def __init__(self, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("a time to live must be positive")
        self.ttl = ttl_seconds
        self._written: OrderedDict[bytes, tuple[float, int]] = OrderedDict()

    def written(self, key: bytes, partition: int, now: float) -> None:
        """``key`` was written at ``now``: its life starts again."""
        self._written[key] = (now, partition)
        self._written.move_to_end(key)

    def recovered(self, key: bytes, partition: int, now: float) -> None:
        """``key`` came back from the changelog; a key already known keeps its time."""
        if key not in self._written:
            self._written[key] = (now, partition)

    def forget(self, key: bytes) -> None:
        """``key`` is gone (a tombstone in the changelog)."""
        self._written.pop(key, None)

    def expired(self, now: float) -> list[tuple[bytes, int]]:
        """Remove and return ``(key, partition)`` of every key last written before ``now - ttl``."""
        limit = now - self.ttl
        gone: list[tuple[bytes, int]] = []
        while self._written:
            key, (when, partition) = next(iter(self._written.items()))
            if when > limit:
                break
            self._written.popitem(last=False)
            gone.append((key, partition))
        return gone

    def __len__(self) -> int:
        return len(self._written)
