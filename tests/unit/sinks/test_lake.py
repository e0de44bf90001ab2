"""Writing usage files: one file per date of a batch, typed exact columns, atomic files."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sinks.files
from sinks.dataset import group_by_day, write_batch
from sinks.lake import USAGE, USAGE_SCHEMA, write_usage_batch
from sinks.layout import file_name, list_files, live_files, resolve
from tests.unit.sinks.factory import T0, TOPIC, Partition, event

DAY1, DAY2 = "2025-03-31", "2025-04-01"


def test_a_batch_is_grouped_by_date_in_first_offset_order() -> None:
    days = {0: "b", 1: "a", 3: "b", 4: "a", 9: "c"}
    groups = group_by_day([(o, o) for o in days], lambda o: days[o])
    assert groups == [("b", [(0, 0), (3, 3)]), ("a", [(1, 1), (4, 4)]), ("c", [(9, 9)])]
    with pytest.raises(ValueError, match="ascend"):
        group_by_day([(2, 2), (2, 2)], lambda o: "a")


def test_a_batch_across_midnight_becomes_one_file_per_date_named_by_its_rows(tmp_path: Path) -> None:
    late = T0.replace(hour=23, minute=59)
    events = [event(0, at=late), event(1, at=late + timedelta(minutes=2)), event(2, at=late)]
    files = write_usage_batch(tmp_path, TOPIC, 3, Partition(3, next_offset=40).take(events, gap=1))
    assert [(f.parent.name, f.name) for f in files] == [
        (f"date={DAY1}", file_name(TOPIC, 3, 40, 44)),
        (f"date={DAY2}", file_name(TOPIC, 3, 42, 42)),
    ]
    assert [pq.read_table(f)["kafka_offset"].to_pylist() for f in files] == [[40, 44], [42]]
    # Offset 42 lies inside the day-1 file's range but is no row of day 1: no file supersedes another.
    assert resolve(list_files(tmp_path, "usage")).superseded == []


def test_the_date_is_the_utc_date_of_the_event(tmp_path: Path) -> None:
    new_york = timezone(timedelta(hours=-5))
    evening = datetime(2025, 3, 31, 21, 30, tzinfo=new_york)  # 02:30 UTC on April 1st
    [path] = write_usage_batch(tmp_path, TOPIC, 0, [(0, event(0, at=evening))])
    assert path.parent.name == f"date={DAY2}"
    assert pq.read_table(path)["event_time"][0].as_py() == datetime(2025, 4, 1, 2, 30, tzinfo=UTC)


def test_columns_are_typed_and_costs_exact(tmp_path: Path) -> None:
    costs = ["0.000000000001", "12345678901234.123456789012", "0.0856259"]
    records = [(i, event(i, cost=c, reasoning=1, cache_1h=7)) for i, c in enumerate(costs)]
    [path] = write_usage_batch(tmp_path, TOPIC, 0, records)
    table = pq.read_table(path)
    assert table.schema.remove_metadata() == USAGE_SCHEMA
    assert table.schema.field("cost_usd").type == pa.decimal128(38, 12)
    assert table["cost_usd"].to_pylist() == [Decimal(c).quantize(Decimal("1e-12")) for c in costs]
    row = table.slice(2, 1).to_pylist()[0]
    assert row["kafka_partition"] == 0 and row["kafka_offset"] == 2
    assert row["reasoning_tokens"] == 1 and row["cache_write_1h_tokens"] == 7
    assert row["labels"] == [("task", "t-1")] and row["lineage"] == []


def test_files_are_zstd_with_the_dataset_row_group_size(tmp_path: Path) -> None:
    small_groups = dataclasses.replace(USAGE, row_group_rows=4)
    [path] = write_batch(tmp_path, small_groups, TOPIC, 0, [(i, event(i)) for i in range(10)])
    meta = pq.read_metadata(path)
    assert meta.num_row_groups == 3
    assert meta.row_group(0).num_rows == 4
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_rewriting_a_batch_replaces_its_files_instead_of_adding_rows(tmp_path: Path) -> None:
    records = Partition(0).take([event(i) for i in range(5)])
    first = write_usage_batch(tmp_path, TOPIC, 0, records)
    again = write_usage_batch(tmp_path, TOPIC, 0, records)
    assert first == again
    assert sum(pq.read_metadata(p).num_rows for p in live_files(tmp_path, "usage")) == 5


def test_readers_never_see_a_half_written_or_failed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = pq.write_table
    seen_while_writing: list[list[Path]] = []

    def write_then_fail(table: pa.Table, where: Any, **kwargs: Any) -> None:
        real_write(table, where, **kwargs)
        seen_while_writing.append(live_files(tmp_path, "usage"))
        seen_while_writing.append(sorted((tmp_path / "usage").glob("date=*/*.parquet")))
        raise OSError("disk full")

    monkeypatch.setattr(sinks.files.pq, "write_table", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_usage_batch(tmp_path, TOPIC, 0, [(0, event(0))])
    assert seen_while_writing == [[], []]
    # The temp file is gone too.
    assert [p for p in (tmp_path / "usage").rglob("*") if p.is_file()] == []
