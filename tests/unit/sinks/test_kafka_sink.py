"""The sink's loop without a broker: one file per date per flush, and resume from the commit.

``FakeConsumer`` stands in for aiokafka's consumer over one partition: it hands out the log
from where the sink sought it, keeps the group's committed offset in ``Log`` (what survives a
crash), and stops the sink once the whole log is handed out. A crash is an exception raised
by the file writer: the sink dies with it, as with a SIGKILL between two files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import OffsetAndMetadata

import sinks.dataset
from config.settings import Settings
from schemas.usage import UsageEvent
from sinks.catalog import audit, query
from sinks.compact import DATASETS
from sinks.kafka_sink import LakeSink
from sinks.lake import USAGE
from sinks.layout import file_name, list_files, resolve
from sinks.policy import SinkPolicy
from tests.unit.sinks.factory import T0, TOPIC, event

TP = TopicPartition(TOPIC, 0)
WIDE = SinkPolicy(max_rows=1_000_000, flush_seconds=3600.0)


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    value: bytes | None
    timestamp: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Log:
    """One partition's records and its group's committed offset."""

    values: list[bytes]
    committed: int | None = None
    fail_commits: bool = False
    commits: list[int] = field(default_factory=list)


class FakeConsumer:
    """What the sink uses of ``AIOKafkaConsumer``, over one partition (see the module docstring)."""

    def __init__(self, sink: LakeSink[Any], log: Log, batch: int = 64) -> None:
        self.sink, self.log, self.batch = sink, log, batch
        self.position = 0
        self.listener: Any = None
        self.early: list[Record] = []

    def subscribe(self, topics: Sequence[str], listener: Any) -> None:
        assert list(topics) == [TOPIC]
        self.listener = listener

    async def start(self) -> None:
        # Records fetched from offset 0 before the seek: the sink must drop them as stale.
        self.early = [Record(0, o, v) for o, v in enumerate(self.log.values[:3])]
        await self.listener.on_partitions_assigned([TP])

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        if self.early:
            early, self.early = self.early, []
            return {TP: early}
        if self.position >= len(self.log.values):
            self.sink.stop()
            return {}
        chunk = self.log.values[self.position : self.position + self.batch]
        records = [Record(0, offset, value) for offset, value in enumerate(chunk, self.position)]
        self.position += len(chunk)
        return {TP: records}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        assert tp == TP
        self.position = offset

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.log.committed

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self.log.fail_commits:
            raise KafkaConnectionError("broker gone")
        self.log.committed = offsets[TP].offset
        self.log.commits.append(offsets[TP].offset)

    async def stop(self) -> None:
        return None


async def run_sink(data_dir: Path, log: Log, policy: SinkPolicy) -> LakeSink[UsageEvent]:
    sink = LakeSink(Settings(), USAGE, TOPIC, group_id="g", data_dir=data_dir, policy=policy)
    await sink.consume(FakeConsumer(sink, log))
    return sink


class Crash(Exception):
    """Stands in for SIGKILL: the sink stops dead (it retries OSError only)."""


def crash_before_file(monkeypatch: pytest.MonkeyPatch, number: int) -> list[Path]:
    """Make the ``number``-th file the sink writes (1-based) never land; returns those that do."""
    real = sinks.dataset.write_atomic
    landed: list[Path] = []

    def write_or_crash(table: pa.Table, target: Path, **kwargs: Any) -> None:
        if len(landed) + 1 == number:
            raise Crash(target.name)
        real(table, target, **kwargs)
        landed.append(target)

    monkeypatch.setattr(sinks.dataset, "write_atomic", write_or_crash)
    return landed


def lake_rows(data_dir: Path) -> list[tuple[int, str, Decimal]]:
    return query(data_dir, "SELECT kafka_offset, event_id, cost_usd FROM usage ORDER BY 1")[1]


async def test_one_buffer_of_1000_rows_over_30_interleaved_dates_makes_30_files(tmp_path: Path) -> None:
    # Dates alternate row by row; each date's items lie within 33 minutes, so even a one-hour
    # span (per date) never cuts: one flush, one file per date.
    events = [
        event(n, at=T0 + timedelta(days=n % 30, minutes=n // 30), cost=f"0.{n:06d}", input_tokens=n)
        for n in range(1000)
    ]
    policy = SinkPolicy(max_rows=1_000_000, flush_seconds=3600.0, max_span=timedelta(hours=1))
    sink = await run_sink(tmp_path, Log([e.to_json() for e in events]), policy)

    files = list_files(tmp_path, "usage")
    assert sink.stats.files_written == len(files) == 30 and sink.stats.rows_written == 1000
    for d, lake_file in enumerate(sorted(files, key=lambda f: f.first)):
        # Named by the first and last offset of its own rows: d, d + 30, ..., the last below 1000.
        assert lake_file.day == (T0 + timedelta(days=d)).date().isoformat()
        assert lake_file.path.name == file_name(TOPIC, 0, d, d + 30 * ((999 - d) // 30))
    assert resolve(files).superseded == [] and resolve(files).overlaps == []
    _, sums = query(tmp_path, "SELECT count(*), sum(cost_usd), sum(input_tokens) FROM usage")
    assert sums == [(1000, Decimal("0.499500000000"), 499_500)]  # 0 + 1 + ... + 999 micro-dollars
    _, per_day = query(tmp_path, "SELECT count(*), sum(cost_usd) FROM usage GROUP BY date")
    assert sorted(per_day) == sorted(
        (34 if d < 10 else 33, sum((Decimal(n) / 10**6 for n in range(d, 1000, 30)), Decimal(0)))
        for d in range(30)
    )


def interleaved_log(n: int, days: int) -> tuple[list[UsageEvent], Log]:
    """``n`` events alternating over ``days`` dates, every seventh repeated three records later."""
    events = [event(i, at=T0 + timedelta(days=i % days, seconds=i), cost=f"0.{i + 1:09d}") for i in range(n)]
    values: list[bytes] = []
    later: dict[int, bytes] = {}
    for i, e in enumerate(events):
        values.append(e.to_json())
        if i in later:
            values.append(later.pop(i))
        if i % 7 == 0:
            later[i + 3] = e.to_json()
    values.extend(later.values())
    return events, Log(values)


def first_copies(log: Log) -> list[tuple[int, str]]:
    seen: dict[str, int] = {}
    for offset, value in enumerate(log.values):
        seen.setdefault(UsageEvent.from_json(value).event_id, offset)
    return sorted((offset, event_id) for event_id, offset in seen.items())


@pytest.mark.parametrize("crash_at", range(1, 10))
async def test_a_crash_between_two_date_files_of_a_flush_then_a_resume_lands_every_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    _, log = interleaved_log(120, days=3)
    assert len(log.values) == 138
    policy = SinkPolicy(max_rows=40, flush_seconds=3600.0)  # 3 flushes of 40 rows, 3 files each
    landed = crash_before_file(monkeypatch, crash_at)
    with pytest.raises(Crash):
        await run_sink(tmp_path, log, policy)
    assert len(landed) == crash_at - 1
    flushes_done = (crash_at - 1) // 3
    before = [(offset, event_id) for offset, event_id, _ in lake_rows(tmp_path)]
    in_lake = len(before)
    if crash_at % 3 != 1:  # cut between two date files: the lake ends beyond a row it lacks,
        lost = sorted(set(first_copies(log)) - set(before))  # so its end is no resume point
        assert lost[0][0] < before[-1][0]
    # Whole flushes, plus the dates of the cut-short flush written before the crash.
    assert in_lake == 40 * flushes_done + sum(
        pq.read_metadata(p).num_rows for p in landed[3 * flushes_done :]
    )
    resume_at = log.committed or 0
    first_row_not_committed = [o for o, _ in first_copies(log)][40 * flushes_done]
    assert resume_at <= first_row_not_committed  # the commit never passes a row not yet durable

    monkeypatch.undo()
    sink = await run_sink(tmp_path, log, policy)
    assert sink.stats.rows_written == 120 - in_lake
    # Everything after the commit was read again; what the lake held, it dropped as repeats.
    assert sink.stats.rows_written + sink.stats.repeated_records == len(log.values) - resume_at
    rows = lake_rows(tmp_path)
    assert [(offset, event_id) for offset, event_id, _ in rows] == first_copies(log)
    assert sum(cost for _, _, cost in rows) == Decimal("0.000007260")  # (1 + ... + 120) nano-dollars
    assert audit(tmp_path) == {"rows": 120, "duplicate_positions": 0, "duplicate_event_ids": 0}
    files = list_files(tmp_path, "usage")
    assert resolve(files).overlaps == [] and resolve(files).superseded == []
    assert {f.day for f in files} == {(T0 + timedelta(days=d)).date().isoformat() for d in range(3)}


async def test_after_failed_commits_a_restart_reads_everything_again_and_writes_nothing(
    tmp_path: Path,
) -> None:
    _, log = interleaved_log(60, days=4)
    log.fail_commits = True
    first = await run_sink(tmp_path, log, SinkPolicy(max_rows=25, flush_seconds=3600.0))
    before = sorted(p.path.name for p in list_files(tmp_path, "usage"))
    assert (first.stats.rows_written, log.committed, len(before)) == (60, None, 12)  # 3 flushes x 4 dates

    log.fail_commits = False
    again = await run_sink(tmp_path, log, WIDE)
    assert (again.stats.rows_written, again.stats.repeated_records) == (0, len(log.values))
    assert log.committed == len(log.values)
    assert sorted(p.path.name for p in list_files(tmp_path, "usage")) == before
    assert [(o, e) for o, e, _ in lake_rows(tmp_path)] == first_copies(log)


def test_every_dataset_names_an_identity_column_it_writes() -> None:
    # The resume rule drops what it reads again by identity: a dataset without one would not be exact.
    for dataset in DATASETS.values():
        assert dataset.identity_column in dataset.schema.names, dataset.name
    record = event(7)
    table = USAGE.to_table(0, [(3, record)])
    assert table[USAGE.identity_column].to_pylist() == [USAGE.identity(record)] == ["e000007"]
