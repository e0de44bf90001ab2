"""The sink's per-partition, per-date index of the identities the lake holds (sinks/recent.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sinks.compact import compact
from sinks.lake import write_usage_batch
from sinks.layout import day_dir, file_name
from sinks.recent import PartitionIds, load_day_ids
from tests.unit.sinks.factory import T0, TOPIC, event

DAY1, DAY2 = T0.date().isoformat(), (T0 + timedelta(days=1)).date().isoformat()


def test_a_date_is_either_wholly_known_or_unknown() -> None:
    ids = PartitionIds()
    assert not ids.knows(DAY1)
    ids.add(DAY1, "e1")  # written while the date was unknown: the lake has it, nothing to keep
    assert not ids.knows(DAY1) and len(ids) == 0
    ids.put(DAY1, {"e1"})
    ids.add(DAY1, "e2")
    ids.add(DAY1, "e2")
    assert ids.holds(DAY1, "e1") and ids.holds(DAY1, "e2") and not ids.holds(DAY1, "e3")
    assert len(ids) == 2


def test_the_least_recently_used_dates_make_room_but_never_the_last_one() -> None:
    ids = PartitionIds(max_ids=3)
    ids.put("2025-01-01", {"a", "b"})
    ids.put("2025-01-02", {"c"})
    assert ids.holds("2025-01-01", "a")  # 01 is now the most recently used
    ids.put("2025-01-03", {"d"})  # 4 ids > 3: the least recently used date (02) goes
    assert ids.days == ["2025-01-01", "2025-01-03"] and len(ids) == 3
    ids.put("2025-01-04", {"e", "f", "g", "h"})  # alone over the bound, and still kept
    assert ids.days == ["2025-01-04"] and len(ids) == 4


def test_load_day_ids_reads_one_partition_and_one_date(tmp_path: Path) -> None:
    write_usage_batch(tmp_path, TOPIC, 0, [(0, event(0)), (1, event(1, at=T0 + timedelta(days=1)))])
    write_usage_batch(tmp_path, TOPIC, 0, [(2, event(2)), (3, event(3))])
    write_usage_batch(tmp_path, TOPIC, 1, [(0, event(99))])
    write_usage_batch(tmp_path, "other.usage", 0, [(0, event(98))])
    assert load_day_ids(tmp_path, "usage", TOPIC, 0, DAY1, "event_id") == {"e000000", "e000002", "e000003"}
    assert load_day_ids(tmp_path, "usage", TOPIC, 0, DAY2, "event_id") == {"e000001"}
    assert load_day_ids(tmp_path, "usage", TOPIC, 1, DAY1, "event_id") == {"e000099"}
    assert load_day_ids(tmp_path, "usage", TOPIC, 2, DAY1, "event_id") == set()
    assert load_day_ids(tmp_path / "nothing", "usage", TOPIC, 0, DAY1, "event_id") == set()


def test_load_day_ids_is_the_same_after_compaction(tmp_path: Path) -> None:
    for first in range(0, 20, 4):
        write_usage_batch(tmp_path, TOPIC, 0, [(n, event(n)) for n in range(first, first + 4)])
    before = load_day_ids(tmp_path, "usage", TOPIC, 0, DAY1, "event_id")
    compact(tmp_path)
    assert len(list((tmp_path / "usage" / f"date={DAY1}").glob("*.parquet"))) == 1
    assert load_day_ids(tmp_path, "usage", TOPIC, 0, DAY1, "event_id") == before
    assert before == {f"e{n:06d}" for n in range(20)}


def test_files_without_the_identity_column_hold_no_ids(tmp_path: Path) -> None:
    # Dead-letter files written before dead_letter_id existed: readable, no ids, no crash.
    folder = day_dir(tmp_path, "deadletter", "2026-01-02")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"reason": ["bad"]}), folder / file_name("t.deadletter", 0, 0, 0))
    pq.write_table(pa.table({"dead_letter_id": ["a", "b"]}), folder / file_name("t.deadletter", 0, 1, 2))
    ids = load_day_ids(tmp_path, "deadletter", "t.deadletter", 0, "2026-01-02", "dead_letter_id")
    assert ids == {"a", "b"}
