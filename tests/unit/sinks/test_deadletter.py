"""Dead-letter rows keep why and where, a length and a hash; never a byte of the line."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from sinks.dataset import write_batch
from sinks.deadletter import DEADLETTER, DEADLETTER_SCHEMA, MAX_TEXT, dead_letter_row
from sinks.layout import file_name

SECRET = b"SECRET-PROMPT-please-never-store-me"
LINE = b'{"type":"result","result":"' + SECRET + b'","usage":{"input_tokens":'


@dataclass
class Record:
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=list)
    partition: int = 2
    offset: int = 17
    timestamp: int = 1_743_465_600_123  # 2025-04-01T00:00:00.123Z


HEADERS = [
    ("ss-format", b"claude-json"),
    ("ss-runner", b"runner-1"),
    ("ss-stream", b"runner-1:/work/run.jsonl"),
    ("ss-pos", b"41"),
    ("ss-label-task", b"t-9"),
    ("x-custom", SECRET),
    ("ss-dlq-reason", b"not valid JSON (at char 60)"),
    ("ss-dlq-topic", b"p.raw"),
    ("ss-dlq-partition", b"1"),
    ("ss-dlq-offset", b"12345"),
]


def test_a_row_holds_reason_position_headers_length_and_hash_only() -> None:
    row = dead_letter_row(Record(LINE, HEADERS))
    assert row.reason == "not valid JSON (at char 60)"
    assert (row.source_topic, row.source_partition, row.source_offset) == ("p.raw", 1, 12345)
    assert (row.format, row.runner_id, row.stream_id, row.position) == (
        "claude-json",
        "runner-1",
        "runner-1:/work/run.jsonl",
        41,
    )
    assert row.byte_length == len(LINE)
    assert row.sha256 == hashlib.sha256(LINE).hexdigest()
    assert row.dead_lettered_at == datetime(2025, 4, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert "x-custom" not in row.headers  # only spendstream's own metadata headers are kept
    assert row.headers["ss-label-task"] == "t-9"
    assert SECRET.decode() not in repr(row)


def test_odd_records_still_get_a_row() -> None:
    row = dead_letter_row(Record(None, [("ss-pos", b"x"), ("ss-dlq-reason", b"\xff" * 2000)]))
    assert row.byte_length is None and row.sha256 is None
    assert row.position is None
    assert len(row.reason) == MAX_TEXT
    assert dead_letter_row(Record(b"", [])).reason == "unknown"


def test_no_parquet_file_carries_the_line(tmp_path: Path) -> None:
    records = [(o, dead_letter_row(Record(LINE, HEADERS, offset=o))) for o in (17, 18)]
    [path] = write_batch(tmp_path, DEADLETTER, "p.deadletter", 2, records)
    assert path == tmp_path / "deadletter" / "date=2025-04-01" / file_name("p.deadletter", 2, 17, 18)
    table = pq.read_table(path)
    assert table.schema.remove_metadata() == DEADLETTER_SCHEMA
    assert SECRET not in path.read_bytes()
    assert SECRET.decode() not in str(table.to_pylist())
    assert table["kafka_offset"].to_pylist() == [17, 18]


def test_numbers_that_do_not_fit_the_columns_are_null_not_a_crash(tmp_path: Path) -> None:
    """A line is dead-lettered *because* its ss-pos is out of range (schemas/raw.py): its row
    must still be written, or the sink (and with it the worker) fails on every replay."""
    headers = [("ss-pos", str(2**64).encode()), ("ss-dlq-partition", str(2**31).encode())]
    row = dead_letter_row(Record(LINE, [*headers, ("ss-dlq-offset", b"-99999999999999999999")]))
    assert (row.position, row.source_partition, row.source_offset) == (None, None, None)
    [path] = write_batch(tmp_path, DEADLETTER, "p.deadletter", 2, [(17, row)])
    assert pq.read_table(path)["position"].to_pylist() == [None]


def test_a_dead_letter_is_named_by_its_source_position_and_line() -> None:
    assert dead_letter_row(Record(LINE, HEADERS)).dead_letter_id == "p.raw/1/12345/0"
    packed_line = [*HEADERS, ("ss-dlq-line", b"7")]
    # A repeat sent after a worker replay (another DLQ offset, same source) has the same id.
    repeat = dead_letter_row(Record(LINE, packed_line, offset=99))
    assert repeat.dead_letter_id == "p.raw/1/12345/7"
    assert DEADLETTER.identity(repeat) == "p.raw/1/12345/7"
    unplaced = dead_letter_row(Record(b"x", [("ss-dlq-reason", b"r")]))
    assert unplaced.dead_letter_id == f"unplaced/{hashlib.sha256(b'x').hexdigest()}/1743465600123"
