"""The dead-letter dataset: why and where each unusable raw line failed, never what it said.

A dead-letter record carries the original line (which may hold prompts, code or model
output) plus the original ``ss-*`` headers and ``ss-dlq-reason/topic/partition/offset``
(``streams/deadletter.py``). The lake keeps the reason, the source position, the ``ss-*``
headers, the line's byte length and its SHA-256, so an operator can find the line in the
raw topic (or match it against a runner's file) without any Parquet file holding content.
Headers that are not ``ss-*`` are dropped: only spendstream's own metadata is trusted not to
carry content. Rows are dated by the dead-letter record's Kafka timestamp, which is stored
in the log, so a replay puts every row in the same folder again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from schemas.deadletter import H_LINE, H_OFFSET, H_PARTITION, H_REASON, H_TOPIC
from sinks.dataset import Dataset, KafkaRecord

DEADLETTER_DATASET = "deadletter"
DEADLETTER_SCHEMA_VERSION = 1
MAX_TEXT = 512
_MAX_HEADER_NAME = 128
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


DEADLETTER_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int16()),
        ("dead_lettered_at", pa.timestamp("us", tz="UTC")),
        ("reason", pa.string()),
        ("source_topic", pa.string()),
        ("source_partition", pa.int32()),
        ("source_offset", pa.int64()),
        ("format", pa.string()),
        ("runner_id", pa.string()),
        ("stream_id", pa.string()),
        ("position", pa.int64()),
        ("headers", pa.map_(pa.string(), pa.string())),
        ("byte_length", pa.int64()),
        ("sha256", pa.string()),
        ("dead_letter_id", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """One dead letter as the lake stores it: metadata and a fingerprint, no content."""

    schema_version: int
    dead_lettered_at: datetime
    reason: str
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    format: str | None
    runner_id: str | None
    stream_id: str | None
    position: int | None
    headers: dict[str, str]
    byte_length: int | None
    sha256: str | None
    dead_letter_id: str = ""


_ROW_FIELDS = tuple(f.name for f in fields(DeadLetterRow))


def _text(raw: bytes | None) -> str:
    text = raw.decode("utf-8", errors="replace") if raw is not None else ""
    return text[:MAX_TEXT]


def _int(text: str | None, bits: int = 64) -> int | None:
    """The header's integer if it fits a signed ``bits``-bit column, else None (never raises:
    a line may be dead-lettered precisely because its ``ss-pos`` is out of range)."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1) else None


def dead_letter_row(record: KafkaRecord) -> DeadLetterRow:
    """The row of one dead-letter record. Never raises: every dead letter gets a row."""
    headers: dict[str, str] = {}
    for name, raw in record.headers or ():
        if isinstance(name, str) and name.startswith("ss-"):
            headers[name[:_MAX_HEADER_NAME]] = _text(raw)
    value = record.value
    return DeadLetterRow(
        schema_version=DEADLETTER_SCHEMA_VERSION,
        dead_lettered_at=_EPOCH + timedelta(milliseconds=max(record.timestamp, 0)),
        reason=headers.get(H_REASON) or "unknown",
        source_topic=headers.get(H_TOPIC),
        source_partition=_int(headers.get(H_PARTITION), bits=32),
        source_offset=_int(headers.get(H_OFFSET)),
        format=headers.get("ss-format"),
        runner_id=headers.get("ss-runner"),
        stream_id=headers.get("ss-stream"),
        position=_int(headers.get("ss-pos")),
        headers=headers,
        byte_length=None if value is None else len(value),
        sha256=None if value is None else hashlib.sha256(value).hexdigest(),
        dead_letter_id=_dead_letter_id(headers, value, record.timestamp),
    )


def _dead_letter_id(headers: dict[str, str], value: bytes | None, timestamp: int) -> str:
    """Names the failed input: source topic, partition, offset and line in a packed record.

    The worker sends a dead letter again when it replays its input after a crash; the
    repeat has the same id (and the source record's timestamp, so the same date folder),
    and the sink keeps one row. A record without a source position is named by its
    fingerprint and timestamp instead.
    """
    topic, partition, offset = headers.get(H_TOPIC), headers.get(H_PARTITION), headers.get(H_OFFSET)
    if topic and partition and offset:
        return f"{topic}/{partition}/{offset}/{headers.get(H_LINE, '0')}"
    digest = hashlib.sha256(value or b"").hexdigest()
    return f"unplaced/{digest}/{timestamp}"


def deadletter_table(partition: int, records: Sequence[tuple[int, DeadLetterRow]]) -> pa.Table:
    rows = [row for _, row in records]
    columns: dict[str, list[object]] = {name: [] for name in _ROW_FIELDS}
    for row in rows:
        for name, value in asdict(row).items():
            columns[name].append(list(value.items()) if name == "headers" else value)
    columns["kafka_partition"] = [partition] * len(rows)
    columns["kafka_offset"] = [offset for offset, _ in records]
    return pa.Table.from_pydict(columns, schema=DEADLETTER_SCHEMA)


def _dead_lettered_at(row: DeadLetterRow) -> datetime:
    return row.dead_lettered_at


DEADLETTER: Dataset[DeadLetterRow] = Dataset(
    name=DEADLETTER_DATASET,
    schema=DEADLETTER_SCHEMA,
    row_group_rows=64 * 1024,
    sort_keys=("kafka_partition", "kafka_offset"),
    decode=dead_letter_row,
    event_time=_dead_lettered_at,
    to_table=deadletter_table,
    identity_column="dead_letter_id",
    identity=lambda row: row.dead_letter_id,
)
