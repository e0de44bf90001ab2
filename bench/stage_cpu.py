"""CPU per stage of the worker's hot path on a generated history, no broker: where a line's time goes.

Run: ``python -m bench.stage_cpu HISTORY [--files N]`` (``HISTORY`` made by
``python -m bench.gen_history``). The lines are redacted and packed as ``spendstream
publish`` sends them (500 lines a record), then go through the three pure stages
(streams/stages/) in batches as the runner hands them over, through memory topics and
tables, and finally through the lake's decode and Arrow/Parquet conversion
(sinks/lake.py). Each step's CPU time (``time.process_time``) is printed per line and per
usage event. Faust, Kafka and the event loop are not in it: this is the floor of one
worker's per-line work.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from producers.redact import redact_line
from schemas.accounting import WindowConfig
from schemas.pricing import default_price_table
from schemas.raw import encode_record
from schemas.sources.base import LineContext
from sinks.lake import decode_usage, usage_table
from streams.routing import partition_for
from streams.stages.base import Effects, Output, Record
from streams.stages.ledger import LedgerStage
from streams.stages.normalize import NormalizeStage
from streams.stages.rollup import RollupStage

PARTITIONS = 4
FORMAT = "claude-transcript"


def raw_records(root: Path, files: int, pack: int = 500) -> tuple[list[Record], int]:
    paths = sorted(p for p in (root / "projects").rglob("*.jsonl"))[:files]
    records: list[Record] = []
    lines = 0
    now = datetime.now(UTC)
    for path in paths:
        stream = f"bench:{path}"
        values = [redact_line(line, FORMAT).value for line in path.read_bytes().splitlines() if line.strip()]
        lines += len(values)
        for first in range(0, len(values), pack):
            context = LineContext(FORMAT, "bench", stream, first + 1, now)
            key, value, headers = encode_record(context, values[first : first + pack])
            partition = partition_for(key, PARTITIONS)
            records.append(Record("raw", partition, len(records), key, value, tuple(headers)))
    return records, lines


def run_stage(stage: object, inputs: list[Record], batch: int) -> tuple[list[Output], list[Effects], float]:
    """Every input through ``stage`` in batches per partition; outputs, effects and CPU seconds."""
    tables: dict[str, dict[bytes, bytes]] = defaultdict(dict)

    def read(table: str, key: bytes) -> bytes | None:
        return tables[table].get(key)

    by_partition: dict[int, list[Record]] = defaultdict(list)
    for record in inputs:
        by_partition[record.partition].append(record)
    outputs: list[Output] = []
    all_effects: list[Effects] = []
    started = time.process_time()
    for records in by_partition.values():
        for start in range(0, len(records), batch):
            effects = stage.handle(records[start : start + batch], read)  # type: ignore[attr-defined]
            outputs += effects.outputs
            for table, writes in effects.writes.items():
                for key, (value, _) in writes.items():
                    tables[table][key] = value
            all_effects.append(effects)
    return outputs, all_effects, time.process_time() - started


def as_input(outputs: list[Output], topic: str) -> list[Record]:
    offsets: dict[int, int] = defaultdict(int)
    records = []
    for out in outputs:
        if out.topic != topic:
            continue
        partition = out.partition if out.partition is not None else partition_for(out.key, PARTITIONS)
        records.append(Record(topic, partition, offsets[partition], out.key, out.value, out.headers))
        offsets[partition] += 1
    return records


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("history", type=Path)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--batch", type=int, default=2000, help="records per stage batch")
    args = parser.parse_args()
    raw, lines = raw_records(args.history, args.files)
    normalize = NormalizeStage(PARTITIONS)
    ledger = LedgerStage(PARTITIONS, default_price_table(), "reported")
    rollup = RollupStage(WindowConfig((60, 3600), 300))
    out1, fx1, t1 = run_stage(normalize, raw, args.batch)
    out2, fx2, t2 = run_stage(ledger, as_input(out1, "observations"), args.batch)
    out3, _, t3 = run_stage(rollup, as_input(out2, "deltas"), args.batch)
    usage = as_input(out3, "usage")
    events = len(usage)
    started = time.process_time()
    by_partition: dict[int, list[tuple[int, object]]] = defaultdict(list)
    for record in usage:
        by_partition[record.partition].append((record.offset, decode_usage(record)))  # type: ignore[arg-type]
    t4 = time.process_time() - started
    started = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        for partition, records in by_partition.items():
            pq.write_table(usage_table(partition, records), os.path.join(tmp, f"{partition}.parquet"))  # type: ignore[arg-type]
    t5 = time.process_time() - started
    dead = sum(e.outcomes["dead"] for e in fx1) + sum(e.dead_letters for e in fx2)
    print(f"{args.files} files, {lines:,} lines, {events:,} usage events, {dead} dead")
    for name, seconds in (
        ("normalize", t1), ("ledger", t2), ("rollup", t3), ("sink decode", t4), ("sink arrow+parquet", t5),
    ):  # fmt: skip
        per_line, per_event = seconds / lines * 1e6, seconds / max(events, 1) * 1e6
        print(f"{name:20s} {seconds:6.2f} s  {per_line:6.1f} us/line  {per_event:6.1f} us/event")
    total = t1 + t2 + t3 + t4 + t5
    print(f"{'total':20s} {total:6.2f} s  {total / lines * 1e6:6.1f} us/line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
