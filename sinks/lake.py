"""The usage dataset of the Parquet lake: its typed schema and how usage events become rows.

Layout, naming and why files never overlap are in ``sinks/layout.py``; this module only says what a
usage file holds: one row per usage event (a delta) with its Kafka position, costs as
``DECIMAL(38, 12)`` (exact, never float), times as UTC microsecond timestamps.

Columns added later are NULL in files written before them (``sinks/catalog.py`` reads by
name): ``message_id``/``request_id`` (the API response) and the cost split
``*_cost_usd`` (all five NULL for an event without a split, else summing to ``cost_usd``).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from array import array
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from schemas.decoded_events import DecodedEvents
from schemas.money import USD_PLACES
from schemas.usage import (
    COST_PART_FIELDS,
    SCHEMA_VERSION,
    TOKEN_FIELDS,
    UNKNOWN_AUTH,
    SchemaError,
    UsageEvent,
)
from sinks.dataset import BadRecord, Dataset, KafkaRecord, write_batch
from sinks.layout import file_name

if TYPE_CHECKING:
    from sinks.lake_rows import EventRows

__all__ = [
    "ROW_GROUP_ROWS",
    "SUMMED_SCHEMA",
    "USAGE",
    "USAGE_DATASET",
    "USAGE_SCHEMA",
    "file_name",
    "money_array",
    "rows_table",
    "usage_dataset",
    "usage_table",
    "write_usage_batch",
]

USAGE_DATASET = "usage"
ROW_GROUP_ROWS = 64 * 1024
COST_TYPE = pa.decimal128(38, USD_PLACES)

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
        ("message_id", pa.string()),
        ("request_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        *[(name, pa.int64()) for name in TOKEN_FIELDS],
        ("cost_usd", COST_TYPE),
        *[(name, COST_TYPE) for name in COST_PART_FIELDS],
        ("cost_source", pa.string()),
        ("auth_mode", pa.string()),
        ("labels", pa.map_(pa.string(), pa.string())),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]
)

# ``USAGE_SCHEMA`` for rows that sum events (sinks/summed_rows.py): how many, and the last
# one's time (``event_time`` is the first's).
SUMMED_SCHEMA = pa.schema(
    [
        *USAGE_SCHEMA,
        pa.field("event_rows", pa.int64()),
        pa.field("last_event_time", pa.timestamp("us", tz="UTC")),
    ]
)


def usage_table(partition: int, records: Sequence[tuple[int, UsageEvent]]) -> pa.Table:
    """Arrow table of ``(offset, event)`` records of one partition (column by column: fast)."""
    events = [event for _, event in records]
    columns: dict[str, list[object]] = {
        "schema_version": [e.schema_version for e in events],
        "event_id": [e.event_id for e in events],
        "source": [e.source for e in events],
        "runner_id": [e.runner_id for e in events],
        "session_id": [e.session_id for e in events],
        "lineage": [list(e.lineage) for e in events],
        "root_id": [e.root_id for e in events],
        "agent_id": [e.agent_id for e in events],
        "model": [e.model for e in events],
        "message_id": [e.message_id for e in events],
        "request_id": [e.request_id for e in events],
        # pyarrow turns aware datetimes into UTC instants.
        "event_time": [e.event_time for e in events],
    }
    for name in TOKEN_FIELDS:
        columns[name] = [getattr(e.tokens, name) for e in events]
    columns["cost_usd"] = [e.cost_usd for e in events]
    for index, name in enumerate(COST_PART_FIELDS):
        columns[name] = [None if e.cost_split is None else e.cost_split.parts()[index] for e in events]
    columns["cost_source"] = [e.cost_source for e in events]
    columns["auth_mode"] = [e.auth_mode for e in events]
    columns["labels"] = [list(e.labels.items()) for e in events]
    columns["kafka_partition"] = [partition] * len(events)
    columns["kafka_offset"] = [offset for offset, _ in records]
    return pa.Table.from_pydict(columns, schema=USAGE_SCHEMA)


def rows_table(rows: EventRows) -> pa.Table:
    """``usage_table(0, list(enumerate(events)))`` of the events ``rows`` holds (exactly the
    same table: tests/unit/sinks/test_lake_rows.py), built from its columns.

    Its buffers come from the system allocator: pyarrow's default (mimalloc) spent more
    time in the kernel than in building the first tables of a process (0.1 s per 15,000
    rows, sys time, in `report --from`'s workers)."""
    pool = pa.system_memory_pool()
    count = len(rows)
    columns: dict[str, object] = {
        "schema_version": [SCHEMA_VERSION] * count,
        "event_id": rows.event_id,
        "source": [rows.source] * count,
        "runner_id": [rows.runner_id] * count,
        "session_id": rows.session_id,
        "lineage": rows.lineage,
        "root_id": rows.root_id,
        "agent_id": rows.agent_id,
        "model": rows.model,
        "message_id": rows.message_id,
        "request_id": rows.request_id,
        "event_time": rows.event_time,
    }
    tokens = list(zip(*rows.tokens, strict=True)) or [()] * len(TOKEN_FIELDS)
    for name, values in zip(TOKEN_FIELDS, tokens, strict=True):
        columns[name] = values
    money_names = ("cost_usd", *COST_PART_FIELDS)
    money = list(zip(*rows.money, strict=True)) or [()] * len(money_names)
    for name, values in zip(money_names, money, strict=True):
        columns[name] = money_array(values, pool)
    columns["cost_source"] = rows.cost_source
    columns["auth_mode"] = [UNKNOWN_AUTH] * count
    columns["labels"] = [list(rows.labels.items())] * count
    columns["kafka_partition"] = [0] * count
    columns["kafka_offset"] = range(count)
    arrays = [
        value if isinstance(value, pa.Array) else pa.array(value, field.type, memory_pool=pool)
        for field, value in ((field, columns[field.name]) for field in USAGE_SCHEMA)
    ]
    return pa.Table.from_arrays(arrays, schema=USAGE_SCHEMA)


def money_array(units: Sequence[int | None], pool: pa.MemoryPool) -> pa.Array:
    """Amounts in units of 10**-12 USD as the lake's decimals: they are the unscaled values
    of DECIMAL(38, 12), so each is written as a 128-bit integer (two's complement, native
    little-endian: the int64 and its sign word), with no compute kernel (``Array.cast``
    imports ``pyarrow.compute``: 0.1 s in each `report --from` worker)."""
    count = len(units)
    present = [0 if v is None else v for v in units]
    try:
        low = array("q", present)
    except OverflowError:  # beyond int64 (9.2 million USD): through exact Decimal text
        exact = [None if v is None else Decimal(f"{v}E-{USD_PLACES}") for v in units]
        return pa.array(exact, COST_TYPE, memory_pool=pool)
    if sys.byteorder != "little":  # pragma: no cover - the lake's machines are little-endian
        return pa.array(low.tolist(), pa.int64(), memory_pool=pool).cast(pa.decimal128(38, 0)).view(COST_TYPE)
    words = array("q", bytes(16 * count))
    words[0::2] = low
    words[1::2] = array("q", [v >> 63 for v in present])
    nulls = sum(1 for v in units if v is None)
    validity = None
    if nulls:
        bits = bytearray((count + 7) // 8)
        for index, value in enumerate(units):
            if value is not None:
                bits[index >> 3] |= 1 << (index & 7)
        validity = pa.py_buffer(bytes(bits))
    return pa.Array.from_buffers(COST_TYPE, count, [validity, pa.py_buffer(words)], null_count=nulls)


def decode_usage(record: KafkaRecord, decoded: DecodedEvents | None = None) -> UsageEvent:
    """The record's event; with ``decoded``, the event the rollup of this process decoded
    from the same bytes when it has one (schemas/decoded_events.py)."""
    if record.value is None:
        raise BadRecord("usage record has no value")
    try:
        return UsageEvent.from_json(record.value) if decoded is None else decoded.take(record.value)
    except SchemaError as exc:
        raise BadRecord(f"not a valid usage event: {exc}") from exc


def usage_dataset(decoded: DecodedEvents | None) -> Dataset[UsageEvent]:
    """:data:`USAGE`, decoding through ``decoded`` when given."""
    if decoded is None:
        return USAGE
    return dataclasses.replace(USAGE, decode=functools.partial(decode_usage, decoded=decoded))


def _event_time(event: UsageEvent) -> datetime:
    return event.event_time


def _event_id(event: UsageEvent) -> str:
    return event.event_id


USAGE: Dataset[UsageEvent] = Dataset(
    name=USAGE_DATASET,
    schema=USAGE_SCHEMA,
    row_group_rows=ROW_GROUP_ROWS,
    sort_keys=("root_id", "session_id", "event_time", "kafka_partition", "kafka_offset"),
    decode=decode_usage,
    event_time=_event_time,
    to_table=usage_table,
    # The worker may repeat an event (same id) after a crash; it lands once.
    identity_column="event_id",
    identity=_event_id,
)


def write_usage_batch(
    data_dir: Path, topic: str, partition: int, records: Sequence[tuple[int, UsageEvent]]
) -> list[Path]:
    """Write ``(offset, event)`` records (ascending offsets) of one partition; returns the files."""
    return write_batch(data_dir, USAGE, topic, partition, records)
