"""Which partition a worker output goes to, and internal records packed per partition.

Every record the worker sends with a key goes to ``crc32(key) mod partitions`` (Faust's
``producer_partitioner``): deterministic, so one key always meets one partition and its
state, and in C, where aiokafka's default partitioner runs murmur2 in pure Python (10 us a
key, once per record sent). Raw records are routed by the producers (murmur2, as any Kafka
client); the worker only needs each of its own keys to land in one place.

Normalize sends a batch's observations packed: one record per ledger partition (at most
``MAX_ENVELOPES`` envelopes or ``MAX_PACK_BYTES``), each envelope in the partition its
ledger key routes to, so the ledger stage meets them exactly where single records would go.
The ledger sends its usage deltas for the rollup the same way, per root-scope partition.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

from schemas import envelope, packing

MAX_PACK_BYTES = 512 * 1024


def partition_for(key: bytes, partitions: int) -> int:
    return zlib.crc32(key) % partitions


def crc32_partitioner(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """A Kafka partitioner (aiokafka's signature) routing keys by CRC-32."""
    if key is None:  # the worker sends none; a keyless record may go anywhere
        return (list(available) or list(all_partitions))[0]
    return all_partitions[zlib.crc32(key) % len(all_partitions)]


class Packs:
    """A batch's envelopes (observations, or deltas), grouped by the partition of their key."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._open: dict[int, tuple[bytes, list[bytes], int]] = {}
        self._full: list[tuple[int, bytes, list[bytes]]] = []

    def add(self, key: bytes, value: bytes) -> None:
        partition = partition_for(key, self.partitions)
        first_key, values, size = self._open.get(partition, (key, [], 0))
        if values and (len(values) >= envelope.MAX_ENVELOPES or size + len(value) > MAX_PACK_BYTES):
            self._full.append((partition, first_key, values))
            first_key, values, size = key, [], 0
        values.append(value)
        self._open[partition] = (first_key, values, size + len(value) + 1)

    def records(self) -> Iterator[tuple[int, bytes, bytes, list[tuple[str, bytes]]]]:
        """(partition, key, value, headers) of every pack, a partition's in the order added."""
        packs = [*self._full, *((p, k, v) for p, (k, v, _) in self._open.items())]
        for partition, key, values in packs:
            value, headers = packing.pack(values)
            yield partition, key, value, headers
