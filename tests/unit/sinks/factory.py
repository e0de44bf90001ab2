"""Synthetic usage events and lakes for sink tests (no broker)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from schemas.attribution import split_cost
from schemas.pricing import default_price_table
from schemas.usage import TokenCounts, UsageEvent
from sinks.lake import write_usage_batch

TOPIC = "t.usage"
T0 = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
SONNET, HAIKU = "claude-sonnet-4-5", "claude-haiku-4-5"


def event(
    n: int,
    *,
    session: str = "s1",
    lineage: Sequence[str] = (),
    model: str | None = "claude-sonnet-4-5",
    at: datetime = T0,
    cost: str = "0.000000000001",
    input_tokens: int = 1,
    output_tokens: int = 2,
    cache_read: int = 0,
    cache_5m: int = 0,
    cache_1h: int = 0,
    reasoning: int = 0,
    split: bool = True,
) -> UsageEvent:
    """A reported-cost event, its cost split as the ledger splits it (``split=False``: an
    event written before splits existed)."""
    tokens = TokenCounts(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=cache_5m,
        cache_write_1h_tokens=cache_1h,
    )
    cost_split = split_cost(tokens, Decimal(cost), default_price_table().lookup(model, at)) if split else None
    return UsageEvent(
        event_id=f"e{n:06d}",
        source="claude-json",
        runner_id="runner-1",
        session_id=session,
        lineage=tuple(lineage),
        model=model,
        event_time=at,
        tokens=tokens,
        cost_usd=Decimal(cost),
        cost_source="reported",
        labels={"task": "t-1"},
        cost_split=cost_split,
    )


@dataclass
class Partition:
    """Offsets handed out in order, like one Kafka partition."""

    number: int
    next_offset: int = 0

    def take(self, events: Sequence[UsageEvent], gap: int = 0) -> list[tuple[int, UsageEvent]]:
        records = []
        for e in events:
            records.append((self.next_offset, e))
            self.next_offset += 1 + gap
        return records


def write_small_files(
    data_dir: Path, partitions: int = 2, files_per_partition: int = 6, rows_per_file: int = 5, days: int = 2
) -> list[UsageEvent]:
    """A lake of many small files over ``days`` dates; returns every event written."""
    written: list[UsageEvent] = []
    n = 0
    for p in range(partitions):
        part = Partition(p)
        for f in range(files_per_partition):
            batch = []
            for r in range(rows_per_file):
                at = T0 + timedelta(days=(f + r) % days, minutes=r)
                batch.append(
                    event(
                        n,
                        session=f"s{n % 7}",
                        lineage=("root",) if n % 7 else (),
                        at=at,
                        cost=f"0.{n:012d}",
                        input_tokens=n,
                        cache_read=2 * n,
                    )
                )
                n += 1
            for run in date_runs(part.take(batch, gap=f % 2)):
                write_usage_batch(data_dir, TOPIC, p, run)
            written.extend(batch)
    return written


def date_runs(records: Sequence[tuple[int, UsageEvent]]) -> list[list[tuple[int, UsageEvent]]]:
    """Consecutive records of one date, each run apart: a file per run, as a sink flushing at
    every date change writes them (many small files, none overlapping)."""
    runs: list[list[tuple[int, UsageEvent]]] = []
    for record in records:
        if runs and runs[-1][-1][1].event_time.date() == record[1].event_time.date():
            runs[-1].append(record)
        else:
            runs.append([record])
    return runs


def write_report_lake(data_dir: Path) -> None:
    """Five events over two days, two partitions, a three-level tree (r1 > c1 > g1) and r2.

    Expected figures are spelled out in tests/unit/sinks/test_reports.py.
    """
    day1, day2 = T0, T0 + timedelta(days=1)  # 2025-03-31 and 2025-04-01, 12:00 UTC
    e1 = event(
        1,
        session="r1",
        model=SONNET,
        at=day1,
        cost="0.123456789012",
        input_tokens=100,
        output_tokens=50,
        cache_read=800,
        cache_5m=100,
    )
    e3 = event(
        3,
        session="c1",
        lineage=["r1"],
        model=SONNET,
        at=day1 + timedelta(hours=1),
        cost="1.5",
        input_tokens=1,
        output_tokens=2,
        cache_read=7,
        reasoning=1,
    )
    e2 = event(
        2,
        session="r1",
        model=HAIKU,
        at=day2,
        cost="0.000000000001",
        input_tokens=10,
        output_tokens=5,
        cache_1h=90,
    )
    e4 = event(
        4,
        session="g1",
        lineage=["r1", "c1"],
        model=None,
        at=day2 + timedelta(hours=1),
        cost="2.25",
        input_tokens=3,
        output_tokens=4,
    )
    e5 = event(
        5,
        session="r2",
        model=SONNET,
        at=day2 + timedelta(hours=2),
        cost="0.333333333333",
        input_tokens=0,
        output_tokens=0,
    )
    write_usage_batch(data_dir, TOPIC, 0, [(0, e1), (1, e3)])
    write_usage_batch(data_dir, TOPIC, 1, [(0, e2), (1, e4), (2, e5)])


def labelled(n: int, labels: dict[str, str], **kwargs: object) -> UsageEvent:
    return replace(event(n, **kwargs), labels=labels)  # type: ignore[arg-type]


def seed_001() -> list[UsageEvent]:
    """Seed 001: a developer and a reviewer run on task T42 (the developer's in two sessions),
    a developer run on T43, and a run with no agent label."""
    t42_dev, t42_rev = {"task": "T42", "agent": "developer"}, {"task": "T42", "agent": "reviewer"}
    return [
        labelled(1, t42_dev, session="d1", input_tokens=45_000, output_tokens=12_000, cost="0.2"),
        labelled(2, t42_dev, session="d2", input_tokens=200, output_tokens=100, cost="0.01"),
        labelled(3, t42_rev, session="r1", input_tokens=12_100, output_tokens=3_100, cost="0.09"),
        labelled(
            4,
            {"task": "T43", "agent": "developer"},
            session="d3",
            at=T0 + timedelta(days=1),
            input_tokens=9,
            cost="1",
        ),
        labelled(5, {"task": "T42"}, session="x1", input_tokens=1, output_tokens=1, cost="0.000000000001"),
    ]
