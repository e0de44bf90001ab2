"""The sink's window of recently landed identities (sinks/recent.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from schemas.usage import TokenCounts, UsageEvent
from sinks.lake import write_usage_batch
from sinks.recent import RecentIds, load_recent


def usage(n: int) -> UsageEvent:
    return UsageEvent(
        event_id=f"e{n}", source="claude-json", runner_id="r", session_id="s",
        event_time=datetime(2026, 1, 1, tzinfo=UTC), tokens=TokenCounts(input_tokens=n),
        cost_usd=Decimal(n).quantize(Decimal("1e-12")), cost_source="reported",
    )  # fmt: skip


def test_recent_ids_keep_the_newest_within_the_bound() -> None:
    recent = RecentIds(limit=3)
    for identity in ("a", "b", "c", "d"):
        recent.add(identity)
    assert "a" not in recent and all(i in recent for i in "bcd") and len(recent) == 3


def test_load_recent_reads_the_newest_files_of_one_partition(tmp_path: Path) -> None:
    write_usage_batch(tmp_path, "t.usage", 0, [(n, usage(n)) for n in range(0, 5)])
    write_usage_batch(tmp_path, "t.usage", 0, [(n, usage(n)) for n in range(5, 10)])
    write_usage_batch(tmp_path, "t.usage", 1, [(0, usage(99))])
    recent = load_recent(tmp_path, "usage", "t.usage", 0, "event_id", limit=4)
    # Whole files are read, newest first, until the bound: e5..e9 (the newest 4 of them stay).
    assert [f"e{n}" in recent for n in range(10)] == [False] * 6 + [True] * 4
    assert "e99" not in recent
