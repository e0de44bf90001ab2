"""``MemoryLake``: events added one by one (a DuckDB table) and Arrow tables added whole (read
in place) are one usage relation under the views, each row at its own offset."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sinks.lake import usage_table
from sinks.memory_lake import MemoryLake
from tests.unit.sinks.factory import T0, event


def test_events_and_tables_are_one_usage_relation() -> None:
    events = [event(n, session=f"s{n % 3}", at=T0 + timedelta(days=n % 2), cost="0.25") for n in range(12)]
    with MemoryLake(since=T0.date().isoformat(), until=T0.date().isoformat(), batch_rows=2) as lake:
        keeps = lake.selector()
        tabled = [e for e in events[6:] if keeps(e)]  # tables hold selected events only
        for one in events[:3]:
            lake.add(one)
        lake.add_tables([usage_table(0, list(enumerate(tabled[:2]))), usage_table(0, [(9, tabled[2])])])
        lake.add_tables([])
        for one in events[3:6]:
            lake.add(one)
        lake.add_tables([usage_table(0, [(0, tabled[0])])])  # the same event again: a second row
        _, rows = lake.query("SELECT event_id, kafka_offset FROM usage ORDER BY kafka_offset")
        assert [offset for _, offset in rows] == list(range(lake.rows))
        want = (
            [e for e in events[:3] if keeps(e)] + tabled + [e for e in events[3:6] if keeps(e)] + tabled[:1]
        )
        assert [event_id for event_id, _ in rows] == [e.event_id for e in want]
        assert len(want) == 7
        _, sessions = lake.query("SELECT session_id, events, cost_usd FROM sessions ORDER BY 1")
        counts: dict[str, int] = {}
        for one in want:
            counts[one.session_id] = counts.get(one.session_id, 0) + 1
        assert sessions == [(s, n, Decimal("0.25") * n) for s, n in sorted(counts.items())]
