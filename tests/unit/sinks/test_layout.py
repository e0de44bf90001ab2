"""File naming, which files are live, and temp-file hygiene."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sinks.layout import (
    LakeFile,
    file_name,
    list_files,
    live_files,
    parse_path,
    remove_stale_temps,
    resolve,
)


def lf(
    first: int, last: int, *, day: str = "2025-01-01", partition: int = 0, topic: str = "t.usage"
) -> LakeFile:
    path = Path("/lake/usage") / f"date={day}" / file_name(topic, partition, first, last)
    return LakeFile(day, topic, partition, first, last, path)


def touch(data_dir: Path, day: str, name: str) -> Path:
    path = data_dir / "usage" / f"date={day}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_names_are_zero_padded_so_they_sort_by_offset() -> None:
    assert file_name("p.usage", 3, 7, 12) == "p.usage-p0003-00000000000000000007-00000000000000000012.parquet"
    names = [file_name("t", 0, a, b) for a, b in [(100, 199), (2, 9), (10, 99)]]
    assert sorted(names) == [file_name("t", 0, 2, 9), file_name("t", 0, 10, 99), file_name("t", 0, 100, 199)]
    with pytest.raises(ValueError):
        file_name("t", 0, 5, 4)


def test_parse_round_trips_and_ignores_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "usage" / "date=2025-01-02" / file_name("my-topic.usage", 12, 5, 9)
    parsed = parse_path(path)
    assert parsed == LakeFile("2025-01-02", "my-topic.usage", 12, 5, 9, path)
    assert parse_path(path.with_name("." + path.name + ".sink-123.tmp")) is None
    assert parse_path(tmp_path / "usage" / "2025-01-02" / path.name) is None
    assert parse_path(path.with_name("t-p0000-00000000000000000009-00000000000000000005.parquet")) is None


def test_disjoint_files_are_all_live() -> None:
    files = [lf(0, 9), lf(10, 19), lf(25, 30)]
    result = resolve(files)
    assert result.live == files and result.superseded == [] and result.overlaps == []


def test_a_file_inside_another_files_range_is_superseded() -> None:
    merged, small_a, small_b, later = lf(0, 19), lf(0, 9), lf(12, 19), lf(20, 20)
    result = resolve([small_a, later, merged, small_b])
    assert result.live == [merged, later]
    assert sorted(result.superseded) == [small_a, small_b]


def test_supersession_is_per_date_topic_and_partition() -> None:
    # Offsets of one partition interleave across dates; a merged day-1 file must not hide day 2.
    day1 = lf(0, 99, day="2025-01-01")
    day2 = lf(40, 41, day="2025-01-02")
    other_partition = lf(5, 6, partition=1)
    other_topic = lf(5, 6, topic="u.usage")
    result = resolve([day1, day2, other_partition, other_topic])
    assert sorted(result.live) == sorted([day1, day2, other_partition, other_topic])


def test_partial_overlap_is_reported_and_both_stay_live() -> None:
    a, b = lf(0, 9), lf(5, 14)
    result = resolve([a, b])
    assert result.live == [a, b] and result.overlaps == [(a, b)]


def test_live_files_skip_merged_inputs_temps_and_other_dates(tmp_path: Path) -> None:
    for name in [
        file_name("t.usage", 0, 0, 9),
        file_name("t.usage", 0, 10, 30),
        file_name("t.usage", 0, 0, 30),  # a merge of the two above, inputs not deleted yet
        file_name("t.usage", 1, 0, 4),
        file_name("other.usage", 0, 0, 500),
    ]:
        touch(tmp_path, "2025-01-01", name)
    touch(tmp_path, "2025-01-02", file_name("t.usage", 1, 5, 7))
    touch(tmp_path, "2025-01-02", "." + file_name("t.usage", 1, 8, 900) + ".sink-1.tmp")
    assert live_files(tmp_path / "missing", "usage") == []
    live = live_files(tmp_path, "usage")
    assert len(live) == 4  # t p0 [0,30], t p1 [0,4] and [5,7] (day 2), other p0 [0,500]; no temp
    assert [p.name for p in live if "-p0000-" in p.name and p.name.startswith("t.")] == [
        file_name("t.usage", 0, 0, 30)
    ]
    assert [p.name for p in live_files(tmp_path, "usage", since="2025-01-02")] == [
        file_name("t.usage", 1, 5, 7)
    ]
    assert all(p.parent.name == "date=2025-01-01" for p in live_files(tmp_path, "usage", until="2025-01-01"))
    assert len(list_files(tmp_path, "usage", topic="t.usage")) == 5


def test_stale_temps_of_dead_processes_are_removed_others_kept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    dead_pid = int(dead.stdout)
    name = file_name("t.usage", 0, 0, 9)
    stale = touch(tmp_path, "2025-01-01", f".{name}.sink-{dead_pid}.tmp")
    mine = touch(tmp_path, "2025-01-01", f".{name}.compact-{os.getpid()}.tmp")
    alive = touch(tmp_path, "2025-01-01", f".{name}.sink-1.tmp")  # pid 1 always runs
    assert remove_stale_temps(tmp_path, "usage") == [stale]
    assert not stale.exists() and mine.exists() and alive.exists()
    assert list_files(tmp_path, "usage") == []
