"""``spendstream compact``: merge a day's small files into large sorted ones, crash-safely.

Per dataset, date, topic and partition, consecutive live files are merged into one file
(up to ``max_rows``) named by the *whole* offset range of its inputs. Order of operations:

1. delete files already superseded (leftovers of an earlier, interrupted run) and temp
   files of dead processes: neither is read by anyone, neither holds a row found nowhere else;
2. write the merged file under a temp name, fsync, rename (one atomic step for readers:
   from then on its range covers its inputs, so readers skip them);
3. delete the inputs.

Killed before step 2's rename, the lake is unchanged (plus a hidden temp file); killed after
it, the inputs are dead and the next run deletes them. At no point does a reader of live
files see a row twice or miss one, and no group's last offset moves: the merged file's last
offset is its inputs' largest, and the sink's next file of the group lies beyond it
(``sinks/layout.py``), so never inside a merged range. Chunks are cut only between whole
input files, so every input lies inside exactly one output. Only one compaction runs at a
time (a lock file).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby, pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sinks.dataset import Dataset
from sinks.deadletter import DEADLETTER
from sinks.files import remove_files, write_atomic
from sinks.lake import USAGE
from sinks.layout import LakeFile, day_dir, file_name, list_files, remove_stale_temps, resolve

DATASETS: dict[str, Dataset[Any]] = {USAGE.name: USAGE, DEADLETTER.name: DEADLETTER}
COMPACT_MAX_ROWS = 1_000_000
COMPACT_ROW_GROUP_ROWS = 128 * 1024
LOCK_NAME = ".compact.lock"

Step = Callable[[str], None]


class CompactionBusy(RuntimeError):
    """Another compaction holds the lake's lock."""


@dataclass(frozen=True)
class Merge:
    dataset: str
    day: str
    partition: int
    inputs: int
    rows: int
    output: Path


@dataclass
class CompactSummary:
    merges: list[Merge] = field(default_factory=list)
    removed_superseded: int = 0
    removed_temps: int = 0
    repaired_overlaps: int = 0


def plan_chunks(files: Sequence[tuple[LakeFile, int]], max_rows: int) -> list[list[LakeFile]]:
    """Group one partition-day's live files (ascending, with row counts) into merges.

    Consecutive whole files, at most ``max_rows`` rows per merge unless files overlap
    (those must be merged together); a "merge" of one file is no merge and is left out.
    """
    chunks: list[list[LakeFile]] = []
    current: list[LakeFile] = []
    rows = 0
    current_last = -1
    for lake_file, count in files:
        overlapping = bool(current) and lake_file.first <= current_last
        if current and not overlapping and rows + count > max_rows:
            chunks.append(current)
            current, rows = [], 0
        current.append(lake_file)
        rows += count
        current_last = max(current_last, lake_file.last) if len(current) > 1 else lake_file.last
    if current:
        chunks.append(current)
    return [chunk for chunk in chunks if len(chunk) > 1]


def _unique_positions(table: pa.Table) -> pa.Table:
    """One row per Kafka position (rows at one position are the same record, decoded twice)."""
    table = table.sort_by([("kafka_partition", "ascending"), ("kafka_offset", "ascending")])
    if table.num_rows < 2:
        return table
    offsets = table["kafka_offset"].combine_chunks()
    changed = pc.not_equal(offsets.slice(1), offsets.slice(0, len(offsets) - 1))
    keep = pa.concat_arrays([pa.array([True]), changed])
    return table.filter(keep)


def merge_files(
    data_dir: Path, dataset: Dataset[Any], chunk: Sequence[LakeFile], *, step: Step
) -> tuple[Path, int]:
    """Write the merged file of ``chunk`` (one group, ascending) and delete the inputs."""
    tables = [pq.read_table(f.path) for f in chunk]
    table = pa.concat_tables(tables, promote_options="permissive")
    overlapping = any(b.first <= a.last for a, b in pairwise(chunk))
    if overlapping:
        table = _unique_positions(table)
    elif table.num_rows != sum(t.num_rows for t in tables):
        raise AssertionError("merge changed the row count")
    table = table.sort_by([(key, "ascending") for key in dataset.sort_keys])
    first = chunk[0]
    name = file_name(first.topic, first.partition, first.first, max(f.last for f in chunk))
    target = day_dir(data_dir, dataset.name, first.day) / name
    if any(f.path == target for f in chunk):
        raise AssertionError(f"merged file would replace an input: {target}")
    step("write")
    write_atomic(table, target, row_group_rows=COMPACT_ROW_GROUP_ROWS, tag="compact")
    step("published")
    for index, lake_file in enumerate(chunk):
        remove_files([lake_file.path])
        step(f"removed {index + 1}/{len(chunk)}")
    return target, table.num_rows


@contextmanager
def compaction_lock(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CompactionBusy(f"another compaction is running on {data_dir}") from exc
        yield
    finally:
        os.close(fd)


def _no_step(_: str) -> None:
    return None


def compact(
    data_dir: Path,
    *,
    datasets: Sequence[str] = tuple(DATASETS),
    day: str | None = None,
    max_rows: int = COMPACT_MAX_ROWS,
    step: Step = _no_step,
) -> CompactSummary:
    """Compact every date (or one ``day``) of the given datasets; see the module docstring."""
    summary = CompactSummary()
    with compaction_lock(data_dir):
        for name in datasets:
            dataset = DATASETS[name]
            summary.removed_temps += len(remove_stale_temps(data_dir, name))
            files = [f for f in list_files(data_dir, name) if day is None or f.day == day]
            resolution = resolve(files)
            summary.removed_superseded += remove_files(f.path for f in resolution.superseded)
            summary.repaired_overlaps += len(resolution.overlaps)
            for _, members in groupby(resolution.live, key=lambda f: f.group):
                counted = [(f, pq.read_metadata(f.path).num_rows) for f in members]
                for chunk in plan_chunks(counted, max_rows):
                    output, rows = merge_files(data_dir, dataset, chunk, step=step)
                    summary.merges.append(
                        Merge(name, chunk[0].day, chunk[0].partition, len(chunk), rows, output)
                    )
    return summary
