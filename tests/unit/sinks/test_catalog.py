"""The DuckDB views: empty lake, schema evolution, live files only, retry when files move."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sinks.catalog
from sinks.catalog import VIEWS, audit, connect, query
from sinks.compact import compact
from sinks.lake import USAGE_SCHEMA, usage_table, write_usage_batch
from sinks.layout import file_name, live_files
from sinks.reports import build_report
from tests.unit.sinks.factory import TOPIC, event

OLD_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int16()),
        ("event_id", pa.string()),
        ("source", pa.string()),
        ("runner_id", pa.string()),
        ("session_id", pa.string()),
        ("root_id", pa.string()),
        ("model", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("input_tokens", pa.int32()),
        ("output_tokens", pa.int32()),
        ("cache_read_tokens", pa.int32()),
        ("cache_write_5m_tokens", pa.int32()),
        ("cost_usd", pa.decimal128(38, 12)),
        ("cost_source", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)


def write_old_file(data_dir: Path) -> None:
    """A file as an early version wrote it: fewer columns, narrower integers."""
    table = pa.Table.from_pydict(
        {
            "schema_version": [1],
            "event_id": ["old-1"],
            "source": ["claude-json"],
            "runner_id": ["r"],
            "session_id": ["s-old"],
            "root_id": ["s-old"],
            "model": [None],
            "event_time": [datetime(2025, 3, 30, 8, tzinfo=UTC)],
            "input_tokens": [10],
            "output_tokens": [20],
            "cache_read_tokens": [30],
            "cache_write_5m_tokens": [40],
            "cost_usd": [Decimal("1.000000000001")],
            "cost_source": ["reported"],
            "kafka_partition": [1],
            "kafka_offset": [0],
        },
        schema=OLD_SCHEMA,
    )
    path = data_dir / "usage" / "date=2025-03-30" / file_name(TOPIC, 1, 0, 0)
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)


def write_newer_file(data_dir: Path) -> None:
    """A file from a future version: today's columns plus one more."""
    table = usage_table(0, [(7, event(7, cache_1h=5, reasoning=3))])
    table = table.append_column("service_tier", pa.array(["priority"]))
    path = data_dir / "usage" / "date=2025-03-31" / file_name(TOPIC, 0, 7, 7)
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)


def test_an_empty_lake_has_every_view_with_typed_columns(tmp_path: Path) -> None:
    con = connect(tmp_path)
    try:
        for view in VIEWS:
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
        types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE usage)").fetchall())
    finally:
        con.close()
    assert types["cost_usd"] == "DECIMAL(38,12)" and types["event_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["date"] == "DATE" and len(types) == len(USAGE_SCHEMA) + 1


def test_old_files_alone_read_with_todays_columns(tmp_path: Path) -> None:
    write_old_file(tmp_path)
    _, got = query(
        tmp_path,
        "SELECT reasoning_tokens, cache_write_1h_tokens, web_search_requests, lineage, labels, "
        "input_tokens, cost_usd, date FROM usage",
    )
    assert got == [(0, 0, 0, None, None, 10, Decimal("1.000000000001"), datetime(2025, 3, 30).date())]


def test_old_and_newer_files_read_together(tmp_path: Path) -> None:
    write_old_file(tmp_path)
    write_newer_file(tmp_path)
    _, got = query(
        tmp_path,
        "SELECT event_id, service_tier, cache_write_1h_tokens, reasoning_tokens, input_tokens "
        "FROM usage ORDER BY event_id",
    )
    assert got == [("e000007", "priority", 5, 3, 1), ("old-1", None, 0, 0, 10)]
    _, totals = query(tmp_path, "SELECT sum(cost_usd), sum(cache_read_tokens) FROM usage")
    assert totals == [(Decimal("1.000000000002"), 30)]
    # Compaction keeps the newer column and the older rows.
    write_usage_batch(tmp_path, TOPIC, 0, [(8, event(8))])
    compact(tmp_path)
    _, after = query(tmp_path, "SELECT count(*), count(service_tier), sum(cost_usd) FROM usage")
    assert after == [(3, 1, Decimal("1.000000000003"))]


def test_rows_written_before_ids_and_the_cost_split_report_as_unsplit(tmp_path: Path) -> None:
    """Old rows read with NULL ids and parts; their cost is named, never put in a part."""
    write_old_file(tmp_path)
    write_usage_batch(tmp_path, TOPIC, 0, [(8, event(8, cost="0.5").with_changes(message_id="m8"))])
    _, got = query(tmp_path, "SELECT event_id, message_id, input_cost_usd FROM usage ORDER BY event_id")
    assert got == [("e000008", "m8", Decimal("0.045454545454")), ("old-1", None, None)]  # 0.5 x 3 / 33
    daily = build_report(tmp_path, "daily")
    old, new = (row.totals for row in daily.rows)
    assert (old.unsplit_cost_usd, old.input_cost_usd, old.cache_write_overhead) == (
        Decimal("1.000000000001"),
        Decimal(0),
        None,  # unknown, not 0: that cost has no split
    )
    assert new.unsplit_cost_usd == 0 and new.cache_write_overhead == Decimal("0.0000")
    parts = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "unsplit")
    assert sum(getattr(daily.totals, f"{p}_cost_usd") for p in parts) == Decimal("1.500000000001")
    messages = build_report(tmp_path, "messages")
    assert [(r.keys["session_id"], r.keys["message_id"]) for r in messages.rows] == [
        ("s-old", None),
        ("s1", "m8"),
    ]
    compact(tmp_path)  # old and new rows merge into one file; the NULLs stay NULL
    assert query(tmp_path, "SELECT count(input_cost_usd), count(*) FROM usage")[1] == [(1, 2)]


def test_views_skip_superseded_files(tmp_path: Path) -> None:
    write_usage_batch(tmp_path, TOPIC, 0, [(0, event(0)), (1, event(1))])
    merged = usage_table(0, [(0, event(0)), (1, event(1)), (2, event(2))])
    pq.write_table(merged, tmp_path / "usage" / "date=2025-03-31" / file_name(TOPIC, 0, 0, 2))
    assert audit(tmp_path) == {"rows": 3, "duplicate_positions": 0, "duplicate_event_ids": 0}


def test_a_query_is_rerun_when_compaction_deleted_a_listed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_usage_batch(tmp_path, TOPIC, 0, [(0, event(0))])
    write_usage_batch(tmp_path, TOPIC, 0, [(1, event(1))])
    stale_listing = live_files(tmp_path, "usage")
    compact(tmp_path)  # deletes both listed files
    calls: list[int] = []
    real = sinks.catalog.live_files

    def listing(*args: object, **kwargs: object) -> list[Path]:
        calls.append(1)
        return stale_listing if len(calls) == 1 else real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sinks.catalog, "live_files", listing)
    assert query(tmp_path, "SELECT count(*) FROM usage")[1] == [(2,)]
    assert len(calls) > 2
