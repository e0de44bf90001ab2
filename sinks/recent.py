"""The identities a partition recently landed, so a repeated record is not written twice.

The worker can deliver the same usage event (same ``event_id``) twice after a crash: its
effects and its input offset may commit in different Kafka transactions. Repeats come
from the last moments before a crash, so remembering the newest ``RECENT_LIMIT`` ids per
partition (reloaded from the lake's newest files on assignment) catches every one.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pyarrow.parquet as pq

from sinks.layout import list_files, resolve

RECENT_LIMIT = 200_000
_ATTEMPTS = 20


class RecentIds:
    """A bounded, insertion-ordered set of identities."""

    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, identity: object) -> bool:
        return identity in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, identity: str) -> None:
        self._ids[identity] = None
        self._ids.move_to_end(identity)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)


def load_recent(
    data_dir: Path, dataset: str, topic: str, partition: int, column: str, limit: int = RECENT_LIMIT
) -> RecentIds:
    """The newest ``limit`` identities of one partition's live files, oldest first.

    ``compact`` may delete a listed file before it is read; it publishes the merged file
    first, so listing again finds the same rows.
    """
    for _ in range(_ATTEMPTS - 1):
        try:
            return _load_recent(data_dir, dataset, topic, partition, column, limit)
        except FileNotFoundError:
            continue
    return _load_recent(data_dir, dataset, topic, partition, column, limit)


def _load_recent(
    data_dir: Path, dataset: str, topic: str, partition: int, column: str, limit: int
) -> RecentIds:
    files = [f for f in resolve(list_files(data_dir, dataset, topic=topic)).live if f.partition == partition]
    chunks: list[list[str]] = []
    count = 0
    for lake_file in sorted(files, key=lambda f: f.last, reverse=True):
        values = pq.read_table(lake_file.path, columns=[column]).column(column).to_pylist()
        chunks.append([v for v in values if isinstance(v, str)])
        count += len(values)
        if count >= limit:
            break
    recent = RecentIds(limit)
    for chunk in reversed(chunks):
        for identity in chunk:
            recent.add(identity)
    return recent
