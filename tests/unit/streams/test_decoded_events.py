"""The rollup hands the lake sink the events it decoded (schemas/decoded_events.py): the sink's
rows are exactly those of decoding the usage records itself."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from schemas.decoded_events import DecodedEvents
from schemas.usage import SchemaError, UsageEvent
from sinks.lake import USAGE, usage_dataset
from streams.stages.base import Record
from streams.stages.rollup import RollupStage
from tests.unit.streams.memory_pipeline import MemoryPipeline
from tests.unit.streams.test_stages import result_line


def _usage_records(pipe: MemoryPipeline) -> list[Record]:
    """The usage topic's records, values copied as a consumer would get them (equal bytes,
    other objects)."""
    return [
        replace(r, value=bytes(bytearray(r.value)), timestamp=0) if r.value is not None else r
        for r in pipe.topic("usage").records()
    ]


def _pipeline_with_memo(memo: DecodedEvents) -> MemoryPipeline:
    pipe = MemoryPipeline()
    rollup = pipe.stages[2]
    assert isinstance(rollup, RollupStage)
    rollup.decoded = memo
    lines = [result_line(f"s{n % 3}", f"run-{n}", input_tokens=n + 1, cost=0.25 + n) for n in range(40)]
    pipe.publish(lines, lineage=("root",))
    for stage in pipe.stages:  # a crash after sending: the replay publishes nothing applied twice
        pipe.step(stage, batch_size=9, crash_after_outputs=True)
        pipe.run(batch_size=9)
    return pipe


def test_the_sink_gets_the_rollups_events_and_writes_the_same_rows() -> None:
    memo = DecodedEvents()
    pipe = _pipeline_with_memo(memo)
    records = _usage_records(pipe)
    assert len(records) == 40 and len(memo) == 40
    mine = [(r.offset, USAGE.decode(r)) for r in records]
    handed = [(r.offset, usage_dataset(memo).decode(r)) for r in records]
    assert memo.hits == 40 and memo.misses == 0 and len(memo) == 0
    assert handed == mine
    for partition in {r.partition for r in records}:
        ours = [pair for pair, r in zip(handed, records, strict=True) if r.partition == partition]
        theirs = [pair for pair, r in zip(mine, records, strict=True) if r.partition == partition]
        assert USAGE.to_table(partition, ours).equals(USAGE.to_table(partition, theirs))
    # Read again (a sink restarted from its committed offset): decoded, the same events.
    again = [(r.offset, usage_dataset(memo).decode(r)) for r in records]
    assert again == mine and memo.misses == 40


def test_a_miss_decodes_and_a_bad_record_still_fails() -> None:
    pipe = _pipeline_with_memo(DecodedEvents())
    (record, *_) = _usage_records(pipe)
    empty = DecodedEvents()
    assert empty.take(record.value) == UsageEvent.from_json(record.value)  # type: ignore[arg-type]
    with pytest.raises(SchemaError):
        empty.take(b"{not json")
    changed = orjson.loads(record.value)  # type: ignore[arg-type]
    changed["output_tokens"] += 1
    assert empty.take(orjson.dumps(changed)).tokens.output_tokens == changed["output_tokens"]


def test_the_oldest_events_are_evicted_beyond_the_bound() -> None:
    pipe = _pipeline_with_memo(DecodedEvents())
    records = _usage_records(pipe)
    memo = DecodedEvents(max_events=5)
    events = [UsageEvent.from_json(r.value) for r in records[:8]]  # type: ignore[arg-type]
    for r, e in zip(records[:8], events, strict=True):
        memo.put(r.value, e)  # type: ignore[arg-type]
    assert len(memo) == 5
    assert memo.take(records[7].value) is events[7]  # type: ignore[arg-type]
    assert memo.take(records[0].value) is not events[0]  # evicted: decoded again
    assert memo.take(records[0].value) == events[0]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        DecodedEvents(max_events=0)
