"""The Parquet lake of usage events: file layout, atomic writes, and where the lake ends.

Layout: ``<data_dir>/usage/date=YYYY-MM-DD/<topic>-p<partition>-<first>-<last>.parquet``,
one file per run of consecutive Kafka offsets that share an event date, named by that
offset range (zero-padded so names sort by offset). Files are written to a temp name,
fsynced and renamed, in offset order, so whatever is in the lake is always a prefix of
each partition: resuming at "last offset in the files + 1" neither duplicates nor loses a
row, whatever the batch boundaries were before a crash.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.money import USD_PLACES
from schemas.usage import TOKEN_FIELDS, UsageEvent

USAGE_DATASET = "usage"
ROW_GROUP_ROWS = 64 * 1024

USAGE_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int16()),
        ("event_id", pa.string()),
        ("source", pa.string()),
        ("runner_id", pa.string()),
        ("session_id", pa.string()),
        ("lineage", pa.list_(pa.string())),
        ("root_id", pa.string()),
        ("agent_id", pa.string()),
        ("model", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        *[(name, pa.int64()) for name in TOKEN_FIELDS],
        ("cost_usd", pa.decimal128(38, USD_PLACES)),
        ("cost_source", pa.string()),
        ("auth_mode", pa.string()),
        ("labels", pa.map_(pa.string(), pa.string())),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)

_FILE_RE = re.compile(r"^(?P<topic>.+)-p(?P<partition>\d{4})-(?P<first>\d{20})-(?P<last>\d{20})\.parquet$")


def file_name(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    return f"{topic}-p{partition:04d}-{first_offset:020d}-{last_offset:020d}.parquet"


def _rows(records: Sequence[tuple[int, int, UsageEvent]]) -> pa.Table:
    columns: dict[str, list[object]] = {name: [] for name in USAGE_SCHEMA.names}
    for partition, offset, event in records:
        row = event.to_json_dict()
        for name in USAGE_SCHEMA.names:
            if name == "event_time":
                columns[name].append(event.event_time.astimezone(UTC))
            elif name == "cost_usd":
                columns[name].append(event.cost_usd)
            elif name == "labels":
                columns[name].append(list(event.labels.items()))
            elif name == "kafka_partition":
                columns[name].append(partition)
            elif name == "kafka_offset":
                columns[name].append(offset)
            else:
                columns[name].append(row[name])
    return pa.Table.from_pydict(columns, schema=USAGE_SCHEMA)


def write_atomic(table: pa.Table, target: Path) -> None:
    """Write a Parquet file under a temp name, fsync it, rename it, fsync the folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_usage_batch(
    data_dir: Path, topic: str, partition: int, records: Sequence[tuple[int, UsageEvent]]
) -> list[Path]:
    """Write ``(offset, event)`` records (ascending offsets) of one partition; returns the files."""
    written: list[Path] = []
    run: list[tuple[int, int, UsageEvent]] = []
    run_date = ""
    for offset, event in records:
        day = event.event_time.astimezone(UTC).date().isoformat()
        if run and day != run_date:
            written.append(_write_run(data_dir, topic, partition, run_date, run))
            run = []
        run_date = day
        run.append((partition, offset, event))
    if run:
        written.append(_write_run(data_dir, topic, partition, run_date, run))
    return written


def _write_run(
    data_dir: Path, topic: str, partition: int, day: str, run: list[tuple[int, int, UsageEvent]]
) -> Path:
    target = data_dir / USAGE_DATASET / f"date={day}" / file_name(topic, partition, run[0][1], run[-1][1])
    write_atomic(_rows(run), target)
    return target


def lake_high_watermarks(data_dir: Path, topic: str) -> dict[int, int]:
    """Per partition, the last Kafka offset already in the lake (from file names alone)."""
    marks: dict[int, int] = {}
    root = data_dir / USAGE_DATASET
    if not root.exists():
        return marks
    for path in root.glob("date=*/*.parquet"):
        match = _FILE_RE.match(path.name)
        if match is None or match["topic"] != topic:
            continue
        partition, last = int(match["partition"]), int(match["last"])
        marks[partition] = max(marks.get(partition, -1), last)
    return marks
