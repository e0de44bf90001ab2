"""Compaction: merged files, unchanged rows and group ends, safe at every crash point."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from sinks.catalog import audit, query
from sinks.compact import CompactionBusy, compact, compaction_lock, plan_chunks
from sinks.lake import write_usage_batch
from sinks.layout import LakeFile, file_name, list_files, live_files, resolve
from tests.unit.sinks.factory import TOPIC, Partition, event, write_small_files

ROWS_SQL = "SELECT kafka_partition, kafka_offset, event_id, cost_usd, date FROM usage ORDER BY 1, 2"


class Crash(BaseException):
    """Stands in for SIGKILL at one step of a compaction."""


def rows(data_dir: Path) -> list[tuple[Any, ...]]:
    return query(data_dir, ROWS_SQL)[1]


def group_ends(data_dir: Path) -> dict[tuple[str, str, int], int]:
    """Per date, topic and partition, the last offset of any file: the sink's next file of the
    group lies beyond it (sinks/layout.py), so compaction must never move it."""
    ends: dict[tuple[str, str, int], int] = {}
    for lake_file in list_files(data_dir, "usage"):
        ends[lake_file.group] = max(ends.get(lake_file.group, -1), lake_file.last)
    return ends


def lf(first: int, last: int) -> LakeFile:
    return LakeFile("2025-01-01", TOPIC, 0, first, last, Path(file_name(TOPIC, 0, first, last)))


def test_plan_cuts_only_between_whole_files_and_skips_single_files() -> None:
    files = [(lf(0, 4), 5), (lf(5, 9), 5), (lf(10, 14), 5), (lf(15, 40), 30), (lf(41, 41), 1)]
    assert plan_chunks(files, max_rows=10) == [[lf(0, 4), lf(5, 9)]]
    assert plan_chunks(files, max_rows=100) == [[f for f, _ in files]]
    assert plan_chunks(files, max_rows=31) == [[lf(0, 4), lf(5, 9), lf(10, 14)], [lf(15, 40), lf(41, 41)]]


def test_overlapping_files_are_always_merged_together() -> None:
    assert plan_chunks([(lf(0, 9), 10), (lf(5, 14), 10)], max_rows=1) == [[lf(0, 9), lf(5, 14)]]


def test_compaction_merges_each_partition_day_and_keeps_every_row(tmp_path: Path) -> None:
    events = write_small_files(tmp_path)
    before, ends = rows(tmp_path), group_ends(tmp_path)
    assert len(before) == len(events) == 60
    files_before = len(list_files(tmp_path, "usage"))
    summary = compact(tmp_path)
    after = list_files(tmp_path, "usage")
    assert files_before == 60 and len(after) == 4  # 2 partitions x 2 dates
    assert len(summary.merges) == 4 and sum(m.rows for m in summary.merges) == 60
    assert rows(tmp_path) == before
    assert group_ends(tmp_path) == ends
    assert audit(tmp_path) == {"rows": 60, "duplicate_positions": 0, "duplicate_event_ids": 0}
    # Each merged file is named by its inputs' whole range and sorted for queries.
    for lake_file in after:
        table = pq.read_table(lake_file.path)
        offsets = table["kafka_offset"].to_pylist()
        assert (lake_file.first, lake_file.last) == (min(offsets), max(offsets))
        keys = list(
            zip(*(table[k].to_pylist() for k in ("root_id", "session_id", "event_time")), strict=True)
        )
        assert keys == sorted(keys)
        assert pq.read_metadata(lake_file.path).row_group(0).column(0).compression == "ZSTD"
    assert compact(tmp_path).merges == []  # nothing left to do


def test_one_date_only(tmp_path: Path) -> None:
    write_small_files(tmp_path)
    compact(tmp_path, day="2025-03-31")
    days = {f.day: 0 for f in list_files(tmp_path, "usage")}
    for f in list_files(tmp_path, "usage"):
        days[f.day] += 1
    assert days == {"2025-03-31": 2, "2025-04-01": 30}


@pytest.mark.parametrize("crash_at", ["write", "published", "removed 1/", "removed 7/"])
def test_a_crash_at_any_step_changes_no_row_and_no_group_end(tmp_path: Path, crash_at: str) -> None:
    write_small_files(tmp_path)
    before, ends = rows(tmp_path), group_ends(tmp_path)
    steps: list[str] = []

    def step(name: str) -> None:
        steps.append(name)
        if name.startswith(crash_at) and len(steps) > 3:  # inside the second merge
            raise Crash(name)

    with pytest.raises(Crash):
        compact(tmp_path, step=step)
    assert rows(tmp_path) == before
    assert audit(tmp_path)["duplicate_positions"] == 0
    assert group_ends(tmp_path) == ends
    compact(tmp_path)
    assert rows(tmp_path) == before and len(list_files(tmp_path, "usage")) == 4
    assert group_ends(tmp_path) == ends


def test_the_sinks_next_file_lies_beyond_merged_files_and_stays_live(tmp_path: Path) -> None:
    part = Partition(0)
    for i in range(3):
        write_usage_batch(tmp_path, TOPIC, 0, part.take([event(10 * i + j) for j in range(3)]))
    compact(tmp_path)
    assert group_ends(tmp_path) == {("2025-03-31", TOPIC, 0): 8}
    write_usage_batch(tmp_path, TOPIC, 0, part.take([event(100)]))
    assert [p.name for p in live_files(tmp_path, "usage")] == [
        file_name(TOPIC, 0, 0, 8),
        file_name(TOPIC, 0, 9, 9),
    ]
    compact(tmp_path)
    assert [p.name for p in live_files(tmp_path, "usage")] == [file_name(TOPIC, 0, 0, 9)]
    assert len(rows(tmp_path)) == 10


def test_overlapping_files_from_a_zombie_writer_are_repaired(tmp_path: Path) -> None:
    events = [event(i) for i in range(15)]
    write_usage_batch(tmp_path, TOPIC, 0, list(enumerate(events[:10])))
    write_usage_batch(tmp_path, TOPIC, 0, [(i + 5, e) for i, e in enumerate(events[5:])])
    assert audit(tmp_path)["duplicate_positions"] == 5
    summary = compact(tmp_path)
    assert summary.repaired_overlaps == 1
    assert audit(tmp_path) == {"rows": 15, "duplicate_positions": 0, "duplicate_event_ids": 0}


def test_only_one_compaction_at_a_time(tmp_path: Path) -> None:
    with compaction_lock(tmp_path), pytest.raises(CompactionBusy):
        compact(tmp_path)


_KILLABLE = """
import sys
from pathlib import Path
from sinks.compact import compact

def step(name):
    print(name, flush=True)

compact(Path(sys.argv[1]), max_rows=25, step=step)
"""


def test_sigkill_anywhere_never_loses_or_repeats_a_row(tmp_path: Path) -> None:
    template = tmp_path / "template"
    write_small_files(template, partitions=3, files_per_partition=12, rows_per_file=4, days=3)
    before, ends = rows(template), group_ends(template)
    assert len(before) == 144
    rng = random.Random(7)
    for attempt, kill_after in enumerate(sorted(rng.sample(range(1, 120), 6))):
        lake = tmp_path / f"lake{attempt}"
        shutil.copytree(template, lake)
        proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(lake)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        for _ in range(kill_after):  # SIGKILL right after the k-th step: lands inside the next one
            if not proc.stdout.readline():
                break
        proc.kill()
        proc.wait()
        proc.stdout.close()
        assert rows(lake) == before, f"killed after step {kill_after}"
        assert audit(lake)["duplicate_positions"] == 0
        assert group_ends(lake) == ends
        compact(lake, max_rows=25)
        assert rows(lake) == before
        assert not resolve(list_files(lake, "usage")).superseded
        assert list(lake.rglob(".*.tmp")) == []
