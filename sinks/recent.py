"""The identities (event ids) a partition already holds in the lake, so a repeat lands once.

The worker's stages deliver at least once: after a crash or a retry the usage topic repeats
an event (same ``event_id``, byte-identical value) at a later offset, seconds or a restart
later. The sink keeps the first copy and drops the rest. Two facts make that exact without
remembering every id forever:

- a repeat has the same bytes, so the same event time, so the same ``date=`` folder as its
  first copy; and the same key (its root scope), so the same partition;
- per date, the rows of a partition in the lake are a prefix of that date's rows, and the
  sink resumes at or before the end of every date's prefix (``sinks/layout.py``): a first
  copy the lake lacks is met again before any of its repeats.

So the ids are indexed per partition and date. The first time the sink meets a date it reads
the identity column of that partition's live files of that date, *in the sink's own loop*
(never in a rebalance callback, which runs beside it), and adds the ids of every file it
writes afterwards (once every file of the flush is durable). Whatever lies between an event
and its repeat (restarts, rotation, compaction, a SIGKILL between two files of one flush)
the index says what the lake holds. The same index drops what the sink reads again after a
crash or a failed commit: those rows are in the lake, at their own positions. Memory holds
the dates in use, bounded by ``MAX_IDS``; a date pushed out is read again when it is met again.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pyarrow.parquet as pq

from sinks.layout import list_files, resolve

MAX_IDS = 2_000_000
_ATTEMPTS = 20


class PartitionIds:
    """The identities of one partition, per date; a date is either wholly known or absent."""

    def __init__(self, max_ids: int = MAX_IDS) -> None:
        self.max_ids = max_ids
        self._days: OrderedDict[str, set[str]] = OrderedDict()
        self._count = 0

    def knows(self, day: str) -> bool:
        """Whether ``day``'s identities are in memory (else the caller loads them first)."""
        return day in self._days

    def put(self, day: str, identities: set[str]) -> None:
        """All identities the lake holds for ``day``; may push out the least recently used dates."""
        self._count += len(identities) - len(self._days.pop(day, ()))
        self._days[day] = identities
        while self._count > self.max_ids and len(self._days) > 1:
            _, dropped = self._days.popitem(last=False)
            self._count -= len(dropped)

    def holds(self, day: str, identity: str) -> bool:
        """Whether the lake holds ``identity`` in ``day`` (which must be known)."""
        self._days.move_to_end(day)
        return identity in self._days[day]

    def add(self, day: str, identity: str) -> None:
        """Record an identity just made durable. An unknown date stays unknown: the lake has it."""
        identities = self._days.get(day)
        if identities is not None and identity not in identities:
            identities.add(identity)
            self._count += 1

    @property
    def days(self) -> list[str]:
        return list(self._days)

    def __len__(self) -> int:
        return self._count


def load_day_ids(data_dir: Path, dataset: str, topic: str, partition: int, day: str, column: str) -> set[str]:
    """Every identity in one partition's live files of one date.

    ``compact`` may delete a listed file before it is read; it publishes the merged file
    first, so listing again finds the same rows.
    """
    for _ in range(_ATTEMPTS - 1):
        try:
            return _load_day_ids(data_dir, dataset, topic, partition, day, column)
        except FileNotFoundError:
            continue
    return _load_day_ids(data_dir, dataset, topic, partition, day, column)


def _load_day_ids(
    data_dir: Path, dataset: str, topic: str, partition: int, day: str, column: str
) -> set[str]:
    files = resolve(list_files(data_dir, dataset, topic=topic, day=day)).live
    identities: set[str] = set()
    for lake_file in files:
        if lake_file.partition != partition:
            continue
        if column not in pq.read_schema(lake_file.path).names:
            # A file written before the dataset had an identity (older dead-letter files):
            # nothing in it can be matched by identity, so it holds no ids to skip.
            continue
        values = pq.read_table(lake_file.path, columns=[column]).column(column).to_pylist()
        identities.update(v for v in values if isinstance(v, str))
    return identities
