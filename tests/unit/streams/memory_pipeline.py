"""The worker's three pure stages wired through in-memory topics and tables (no broker).

Each topic is a list of records per partition; each stage consumes its input topic from a
committed offset per partition, in batches, and, like the runner, makes its outputs
"acknowledged" (appended) before it writes its state. ``crash_after_outputs`` drops a
batch's state writes and does not move the committed offset: the replay Faust's
at-least-once delivery makes after a crash.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from schemas.accounting import WindowConfig
from schemas.pricing import default_price_table
from schemas.raw import encode_headers
from schemas.sources.base import LineContext
from streams.routing import partition_for
from streams.stages.base import Effects, Output, Record
from streams.stages.ledger import LedgerStage
from streams.stages.normalize import NormalizeStage
from streams.stages.rollup import RollupStage

PARTITIONS = 4


@dataclass
class MemoryTopic:
    name: str
    partitions: dict[int, list[Record]] = field(default_factory=lambda: defaultdict(list))

    def append(self, out: Output, partitions: int) -> None:
        partition = out.partition if out.partition is not None else partition_for(out.key, partitions)
        log = self.partitions[partition]
        log.append(Record(self.name, partition, len(log), out.key, out.value, out.headers, out.timestamp))

    def records(self) -> list[Record]:
        return [r for p in sorted(self.partitions) for r in self.partitions[p]]


@dataclass
class MemoryPipeline:
    """normalize -> ledger -> rollup over memory topics; ``run`` drains every stage."""

    partitions: int = PARTITIONS
    windows: WindowConfig = field(default_factory=lambda: WindowConfig((60,), 300))
    topics: dict[str, MemoryTopic] = field(default_factory=dict)
    tables: dict[str, dict[bytes, bytes]] = field(default_factory=lambda: defaultdict(dict))
    committed: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    outcomes: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    stages: list[object] = field(default_factory=list)
    skip_repeats: bool = True  # normalize's (streams/stages/normalize.py)

    def __post_init__(self) -> None:
        self.stages = [
            NormalizeStage(self.partitions, skip_repeats=self.skip_repeats),
            LedgerStage(self.partitions, default_price_table(), "reported"),
            RollupStage(self.windows),
        ]

    def topic(self, name: str) -> MemoryTopic:
        return self.topics.setdefault(name, MemoryTopic(name))

    def publish(
        self,
        lines: Iterable[bytes],
        *,
        stream: str = "runner:/f.jsonl",
        first: int = 1,
        source: str = "claude-json",
        at: str = "2026-11-23T12:00:00+00:00",
        **meta: object,
    ) -> None:
        from datetime import datetime

        for position, line in enumerate(lines, start=first):
            context = LineContext(source, "runner", stream, position, datetime.fromisoformat(at), **meta)  # type: ignore[arg-type]
            self.topic("raw").append(
                Output("raw", stream.encode(), line, tuple(encode_headers(context))), self.partitions
            )

    def read(self, table: str, key: bytes) -> bytes | None:
        return self.tables[table].get(key)

    def step(self, stage: object, batch_size: int = 50, crash_after_outputs: bool = False) -> bool:
        """One batch of ``stage`` per partition with input; False when it had none."""
        assert isinstance(stage, NormalizeStage | LedgerStage | RollupStage)
        source = self.topic(stage.input_topic)
        moved = False
        for partition, log in sorted(source.partitions.items()):
            start = self.committed[(source.name, partition)]
            batch = log[start : start + batch_size]
            if not batch:
                continue
            moved = True
            effects = stage.handle(batch, self.read)
            self.apply(stage.name, effects, write_state=not crash_after_outputs)
            if not crash_after_outputs:
                self.committed[(source.name, partition)] = start + len(batch)
        return moved

    def apply(self, stage: str, effects: Effects, *, write_state: bool = True) -> None:
        for out in effects.outputs:  # acknowledged first...
            self.topic(out.topic).append(out, self.partitions)
        if write_state:  # ...then the state
            for table, writes in effects.writes.items():
                for key, (value, _partition) in writes.items():
                    self.tables[table][key] = bytes(value)
            self.outcomes.update(effects.outcomes)
            self.dead_letters[stage] += effects.dead_letters

    def run(self, batch_size: int = 50) -> None:
        while any([self.step(stage, batch_size) for stage in self.stages]):
            pass

    # What consumers of the output topics see.
    def totals(self) -> dict[str, dict[str, object]]:
        """Latest ``totals`` record per scope (highest version)."""
        latest: dict[str, dict[str, object]] = {}
        for record in self.topic("totals").records():
            value = orjson.loads(record.value or b"{}")
            scope = value["scope"]
            if scope not in latest or value["version"] >= latest[scope]["version"]:  # type: ignore[operator]
                latest[scope] = value
        return latest

    def usage(self) -> dict[str, dict[str, object]]:
        """Usage events on the public topic, by event id (the lake keeps the first copy)."""
        events: dict[str, dict[str, object]] = {}
        for record in self.topic("usage").records():
            value = orjson.loads(record.value or b"{}")
            events.setdefault(value["event_id"], value)
        return events

    def dead(self) -> Sequence[Record]:
        return self.topic("deadletter").records()
