"""A lake dataset (usage, deadletter): its schema, how a Kafka record becomes a row, and the
one writer that turns a partition's batch into offset-range files, one per event date.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import pyarrow as pa

from sinks.files import write_atomic
from sinks.layout import day_dir, day_of, file_name

T = TypeVar("T")


class KafkaRecord(Protocol):
    """The parts of an aiokafka ``ConsumerRecord`` a dataset reads."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class BadRecord(ValueError):
    """A record of the dataset's topic that cannot become a row (logged by position, skipped)."""


@dataclass(frozen=True)
class Dataset(Generic[T]):
    """How one topic lands in the lake."""

    name: str
    """Folder under the data dir, and the name of the DuckDB view over it."""
    schema: pa.Schema
    """Columns of the files written now (older files may lack some; see catalog.py)."""
    row_group_rows: int
    """Rows per Parquet row group of files the sink writes."""
    sort_keys: tuple[str, ...]
    """Row order inside compacted files (always ends with the Kafka position)."""
    decode: Callable[[KafkaRecord], T]
    """Kafka record -> item; raises BadRecord."""
    event_time: Callable[[T], datetime]
    """The time that decides the item's ``date=`` folder and the rotation span."""
    to_table: Callable[[int, Sequence[tuple[int, T]]], pa.Table]
    """(partition, [(offset, item)]) -> Arrow table with ``schema``."""
    identity_column: str
    """Column naming an item's identity: an item whose identity the partition already holds
    in the lake (or in the sink's buffer) is skipped and counted, not written twice. Required:
    the sink resumes at its committed offset and relies on it to drop what a crash between
    two files of a flush, or a failed commit, makes it read again (``sinks/kafka_sink.py``)."""
    identity: Callable[[T], str]
    """The identity of a decoded item (the value of ``identity_column``); the same bytes must
    give the same identity and the same event date."""


def group_by_day(
    records: Sequence[tuple[int, T]], day: Callable[[T], str]
) -> list[tuple[str, list[tuple[int, T]]]]:
    """Cut a partition's batch (ascending offsets) into one group per date, in first-offset order.

    A group is *every* record of its date in the batch, so the file written from it holds
    every row of its date, topic and partition whose offset lies in its range: the batch met
    each offset between the group's first and last, and what it did not keep there is of
    another date, a bad record or a repeat, none of which is a row of this date
    (``sinks/layout.py`` says why no file already in the lake lies inside that range).
    """
    groups: dict[str, list[tuple[int, T]]] = {}
    previous = -1
    for offset, item in records:
        if offset <= previous:
            raise ValueError(f"offsets must ascend: {offset} after {previous}")
        previous = offset
        groups.setdefault(day(item), []).append((offset, item))
    return list(groups.items())


def write_batch(
    data_dir: Path, dataset: Dataset[T], topic: str, partition: int, records: Sequence[tuple[int, T]]
) -> list[Path]:
    """Write ``(offset, item)`` records of one partition as one file per date; returns them.

    Each file is named by the first and last offset of the rows it holds. A crash between two
    files leaves some dates of the batch in the lake and not others; the sink's resume rule
    (``sinks/kafka_sink.py``) makes that harmless.
    """
    written = []
    for day, group in group_by_day(records, lambda item: day_of(dataset.event_time(item))):
        name = file_name(topic, partition, group[0][0], group[-1][0])
        target = day_dir(data_dir, dataset.name, day) / name
        write_atomic(
            dataset.to_table(partition, group), target, row_group_rows=dataset.row_group_rows, tag="sink"
        )
        written.append(target)
    return written
