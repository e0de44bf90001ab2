"""CPU per stage on the latency workload, no broker: what one offered line costs the worker.

Run: ``python -m bench.stage_cpu_latency [--lines N] [--batch-lines N] [--profile STAGE]``

The raw records are those of bench/pipeline.py's latency run (``latency_record``: one
claude-json result line per record, each its own scope under one of ``--roots`` roots,
lineage set), made with a seeded run id and publish times ``--rate`` apart, on
``PARTITIONS`` partitions by the producer's default (murmur2) partitioner. They go through
the three pure stages (streams/stages/) and the lake sink's decode as a pipeline: each
slice of ``--batch-lines`` raw records (the lines one ``batch_max_seconds`` of 30 ms holds
at 1,000 lines/s) is one batch of normalize, whose outputs are one batch of the ledger,
whose outputs are one batch of the rollup, whose ``usage`` records the sink decodes. Tables
are memory dicts written after each batch, as the runner writes them. As in the worker with
its lake sink (spendstream/worker.py), the ledger hands its events to the rollup and the
rollup to the sink through one DecodedEvents; ``--no-handoff`` decodes at each step. The
garbage collector runs with the worker's settings (streams/runner/gc_tuning.py) and the
outputs are dropped once counted, as the worker drops them once sent.

Each step's CPU time (``time.process_time``) is printed per line and per usage event.
Faust, Kafka and the event loop are not in it (bench/stage_cpu.py is the backfill's
counterpart). ``--profile rollup`` (or another stage) prints that stage's cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pstats
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import DefaultPartitioner

from bench.pipeline import latency_record
from schemas.accounting import WindowConfig
from schemas.decoded_events import DecodedEvents
from schemas.pricing import default_price_table
from sinks.lake import decode_usage
from streams.routing import partition_for
from streams.runner.gc_tuning import tune_gc
from streams.stages.base import Effects, Output, Record, Stage
from streams.stages.ledger import LedgerStage
from streams.stages.normalize import NormalizeStage
from streams.stages.rollup import RollupStage

PARTITIONS = 8  # bench.live_workers --partitions 8
SEED = 20261203
START = datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)
STAGES = ("normalize", "ledger", "rollup", "sink decode")
_ALL = list(range(PARTITIONS))


def latency_raw(lines: int, roots: int = 20, rate: float = 1000.0, seed: int = SEED) -> list[Record]:
    """The latency run's raw records, ``lines`` of them, the same for the same arguments."""
    run = f"{random.Random(seed).getrandbits(24):06x}"
    partitioner = DefaultPartitioner()
    offsets: dict[int, int] = defaultdict(int)
    records = []
    for n in range(lines):
        _, key, value, headers = latency_record(run, n, roots, START + timedelta(seconds=n / rate))
        partition = partitioner(key, _ALL, _ALL)
        records.append(Record("raw", partition, offsets[partition], key, value, tuple(headers)))
        offsets[partition] += 1
    return records


@dataclass
class Topic:
    """A memory topic: outputs in, records (with per-partition offsets) out."""

    name: str
    offsets: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def records(self, outputs: Sequence[Output]) -> list[Record]:
        records = []
        for out in outputs:
            if out.topic != self.name:
                continue
            partition = out.partition if out.partition is not None else partition_for(out.key, PARTITIONS)
            offset = self.offsets[partition]
            records.append(Record(self.name, partition, offset, out.key, out.value, out.headers))
            self.offsets[partition] = offset + 1
        return records


@dataclass
class Run:
    """Every stage's outputs, table writes (in order) and CPU seconds."""

    outputs: dict[str, list[Output]] = field(default_factory=lambda: defaultdict(list))
    writes: dict[str, list[tuple[str, bytes, bytes, int]]] = field(default_factory=lambda: defaultdict(list))
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    events: int = 0
    sent: int = 0
    dead: int = 0


class Tables:
    def __init__(self) -> None:
        self.values: dict[str, dict[bytes, bytes]] = defaultdict(dict)

    def read(self, table: str, key: bytes) -> bytes | None:
        return self.values[table].get(key)


def run_pipeline(
    raw: Sequence[Record],
    batch_lines: int,
    handoff: bool = True,
    profiles: dict[str, cProfile.Profile] | None = None,
    keep: bool = True,
) -> Run:
    """The records through the stages; ``keep``: every output and write kept in the Run
    (else only counted, as the worker lets them go once sent)."""
    decoded = DecodedEvents() if handoff else None
    stages: dict[str, Stage] = {
        "normalize": NormalizeStage(PARTITIONS),
        "ledger": LedgerStage(PARTITIONS, default_price_table(), "reported", decoded),
        "rollup": RollupStage(WindowConfig((60, 3600), 300), decoded),
    }
    inputs = {"ledger": Topic("observations"), "rollup": Topic("deltas")}
    usage = Topic("usage")
    tables = {name: Tables() for name in stages}
    profiles = profiles or {}
    run = Run()

    def timed(name: str, work: Callable[[], Effects]) -> Effects:
        profile = profiles.get(name)
        started = time.process_time()
        if profile is not None:
            profile.enable()
        effects = work()
        if profile is not None:
            profile.disable()
        run.seconds[name] += time.process_time() - started
        return effects

    for first in range(0, len(raw), batch_lines):
        batch = list(raw[first : first + batch_lines])
        outputs: list[Output] = []
        for name, stage in stages.items():
            if name in inputs:
                batch = inputs[name].records(outputs)
            table = tables[name]
            effects = timed(name, functools.partial(stage.handle, batch, table.read))
            outputs = effects.outputs
            run.sent += len(outputs)
            if keep:
                run.outputs[name] += outputs
            for table_name, writes in effects.writes.items():
                for key, (value, partition) in writes.items():
                    table.values[table_name][key] = value
                    if keep:
                        run.writes[name].append((table_name, key, value, partition))
            run.dead += effects.dead_letters + (effects.outcomes["dead"] if name == "normalize" else 0)
        records = usage.records(outputs)
        run.events += len(records)
        profile = profiles.get("sink decode")
        started = time.process_time()
        if profile is not None:
            profile.enable()
        for record in records:
            decode_usage(record, decoded)  # type: ignore[arg-type]
        if profile is not None:
            profile.disable()
        run.seconds["sink decode"] += time.process_time() - started
    return run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--roots", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered lines/s (sets publish times)")
    parser.add_argument("--batch-lines", type=int, default=30, help="raw records per pipeline batch")
    parser.add_argument("--no-handoff", action="store_true", help="no DecodedEvents between stages")
    parser.add_argument("--profile", choices=STAGES, action="append", default=[])
    parser.add_argument("--default-gc", action="store_true", help="not the worker's GC settings (tune_gc)")
    args = parser.parse_args()
    raw = latency_raw(args.lines, args.roots, args.rate)
    profiles = {name: cProfile.Profile() for name in args.profile}
    if not args.default_gc:
        tune_gc()
    run = run_pipeline(raw, args.batch_lines, not args.no_handoff, profiles, keep=False)
    lines, events, out = len(raw), run.events, run.sent
    print(
        f"latency workload: {lines:,} lines, {events:,} usage events, {out:,} records out, {run.dead} dead, "
        f"{args.batch_lines} lines a batch, handoff {'off' if args.no_handoff else 'on'}"
    )
    for name in STAGES:
        seconds = run.seconds[name]
        per_line, per_event = seconds / lines * 1e6, seconds / max(events, 1) * 1e6
        print(f"{name:12s} {seconds:6.2f} s  {per_line:6.1f} us/line  {per_event:6.1f} us/event")
    total = sum(run.seconds.values())
    print(f"{'total':12s} {total:6.2f} s  {total / lines * 1e6:6.1f} us/line")
    for name, profile in profiles.items():
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(30)
        print(f"--- {name} ---\n{text.getvalue()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
