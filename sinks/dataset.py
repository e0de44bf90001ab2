"""A lake dataset (usage, deadletter): its schema, how a Kafka record becomes a row, and the
one writer that turns a partition's batch into offset-range files, split where the date changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import pyarrow as pa

from sinks.files import write_atomic
from sinks.layout import day_dir, file_name

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
    identity_column: str | None = None
    """Column naming an item's identity: an item whose identity the partition already holds
    in the lake (or in the sink's buffer) is skipped and counted, not written twice."""
    identity: Callable[[T], str] | None = None
    """The identity of a decoded item (the value of ``identity_column``)."""


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def split_runs(
    records: Sequence[tuple[int, T]], day: Callable[[T], str]
) -> list[tuple[str, list[tuple[int, T]]]]:
    """Cut a partition's batch (ascending offsets) into runs of consecutive records of one date.

    Runs, not per-date groups: each file must hold every row of its date inside its offset
    range, and files must land in offset order, or the resume rule stops being exact.
    """
    runs: list[tuple[str, list[tuple[int, T]]]] = []
    previous = -1
    for offset, item in records:
        if offset <= previous:
            raise ValueError(f"offsets must ascend: {offset} after {previous}")
        previous = offset
        item_day = day(item)
        if runs and runs[-1][0] == item_day:
            runs[-1][1].append((offset, item))
        else:
            runs.append((item_day, [(offset, item)]))
    return runs


def write_batch(
    data_dir: Path, dataset: Dataset[T], topic: str, partition: int, records: Sequence[tuple[int, T]]
) -> list[Path]:
    """Write ``(offset, item)`` records of one partition as files, in offset order; returns them."""
    written = []
    for day, run in split_runs(records, lambda item: day_of(dataset.event_time(item))):
        name = file_name(topic, partition, run[0][0], run[-1][0])
        target = day_dir(data_dir, dataset.name, day) / name
        write_atomic(
            dataset.to_table(partition, run), target, row_group_rows=dataset.row_group_rows, tag="sink"
        )
        written.append(target)
    return written
