"""The resume rule on the buffer's decisions and the real file writer, without a broker.

``run_once`` is one life of a sink over one partition, done by hand: assign at the committed
offset, add the log in fetches, write each flush (``write_batch``, the lake's own files),
report it written, then commit it. ``Log`` is what survives a crash: the records and the
committed offset. A crash is an exception raised by the file writer, as with a SIGKILL
between two files. The same rule on the real broker: ``tests/integration/test_lake_*.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sinks.dataset
from schemas.usage import UsageEvent
from sinks.buffer import Flush, PartitionBuffers, SinkStats
from sinks.catalog import audit, query
from sinks.dataset import write_batch
from sinks.lake import USAGE
from sinks.layout import file_name, list_files, resolve
from sinks.policy import SinkPolicy
from sinks.recent import load_day_ids
from tests.unit.sinks.factory import T0, TOPIC, event
from tests.unit.sinks.test_buffer import WIDE, records


@dataclass
class Log:
    """One partition's records and its group's committed offset."""

    values: list[bytes]
    committed: int | None = None
    fail_commits: bool = False


def run_once(data_dir: Path, log: Log, policy: SinkPolicy, fetch: int = 64) -> SinkStats:
    def load(partition: int, day: str) -> set[str]:
        return load_day_ids(data_dir, USAGE.name, TOPIC, partition, day, USAGE.identity_column)

    buffers = PartitionBuffers(USAGE, policy, load)

    def complete(flushes: list[Flush[UsageEvent]]) -> None:
        for flush in flushes:
            if flush.rows:
                files = write_batch(data_dir, USAGE, TOPIC, flush.partition, flush.rows)
                buffers.written(flush, len(files))
            if not log.fail_commits:
                log.committed = flush.commit

    start = log.committed or 0
    buffers.assign(0, start)
    for at in range(start, len(log.values), fetch):
        complete(buffers.add(0, records(log.values[at : at + fetch], start=at), now=0.0))
    complete(buffers.drain())
    return buffers.stats


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


def test_one_buffer_of_1000_rows_over_30_interleaved_dates_makes_30_files(tmp_path: Path) -> None:
    # Dates alternate row by row; each date's items lie within 33 minutes, so even a one-hour
    # span (per date) never cuts: one flush, one file per date.
    events = [
        event(n, at=T0 + timedelta(days=n % 30, minutes=n // 30), cost=f"0.{n:06d}", input_tokens=n)
        for n in range(1000)
    ]
    policy = SinkPolicy(max_rows=1_000_000, flush_seconds=3600.0, max_span=timedelta(hours=1))
    stats = run_once(tmp_path, Log([e.to_json() for e in events]), policy)

    files = list_files(tmp_path, "usage")
    assert stats.files_written == len(files) == 30 and stats.rows_written == 1000
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


def interleaved_log(n: int, days: int) -> Log:
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
    return Log(values)


def first_copies(log: Log) -> list[tuple[int, str]]:
    seen: dict[str, int] = {}
    for offset, value in enumerate(log.values):
        seen.setdefault(UsageEvent.from_json(value).event_id, offset)
    return sorted((offset, event_id) for event_id, offset in seen.items())


@pytest.mark.parametrize("crash_at", range(1, 10))
def test_a_crash_between_two_date_files_of_a_flush_then_a_resume_lands_every_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    log = interleaved_log(120, days=3)
    assert len(log.values) == 138
    policy = SinkPolicy(max_rows=40, flush_seconds=3600.0)  # 3 flushes of 40 rows, 3 files each
    landed = crash_before_file(monkeypatch, crash_at)
    with pytest.raises(Crash):
        run_once(tmp_path, log, policy)
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
    stats = run_once(tmp_path, log, policy)
    assert stats.rows_written == 120 - in_lake
    # Everything after the commit was read again; what the lake held, it dropped as repeats.
    assert stats.rows_written + stats.repeated_records == len(log.values) - resume_at
    rows = lake_rows(tmp_path)
    assert [(offset, event_id) for offset, event_id, _ in rows] == first_copies(log)
    assert sum(cost for _, _, cost in rows) == Decimal("0.000007260")  # (1 + ... + 120) nano-dollars
    assert audit(tmp_path) == {"rows": 120, "duplicate_positions": 0, "duplicate_event_ids": 0}
    files = list_files(tmp_path, "usage")
    assert resolve(files).overlaps == [] and resolve(files).superseded == []
    assert {f.day for f in files} == {(T0 + timedelta(days=d)).date().isoformat() for d in range(3)}


def test_after_failed_commits_a_restart_reads_everything_again_and_writes_nothing(
    tmp_path: Path,
) -> None:
    log = interleaved_log(60, days=4)
    log.fail_commits = True
    first = run_once(tmp_path, log, SinkPolicy(max_rows=25, flush_seconds=3600.0))
    before = sorted(p.path.name for p in list_files(tmp_path, "usage"))
    assert (first.rows_written, log.committed, len(before)) == (60, None, 12)  # 3 flushes x 4 dates

    log.fail_commits = False
    again = run_once(tmp_path, log, WIDE)
    assert (again.rows_written, again.repeated_records) == (0, len(log.values))
    assert log.committed == len(log.values)
    assert sorted(p.path.name for p in list_files(tmp_path, "usage")) == before
    assert [(o, e) for o, e, _ in lake_rows(tmp_path)] == first_copies(log)
