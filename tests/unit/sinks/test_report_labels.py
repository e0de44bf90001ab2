"""Reports by label and ``where`` filters, over the lake and over events in memory (no broker)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sinks.lake import write_usage_batch
from sinks.memory_lake import MemoryLake
from sinks.report_kinds import REPORT_KINDS
from sinks.reports import build_report
from tests.unit.sinks.factory import TOPIC, seed_001


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    events = seed_001()
    write_usage_batch(tmp_path, TOPIC, 0, list(enumerate(events[:3])))
    write_usage_batch(tmp_path, TOPIC, 1, list(enumerate(events[3:])))
    return tmp_path


def test_label_groups_by_value_ordered_by_cost(lake: Path) -> None:
    report = build_report(lake, "label", label_key="agent")
    rows = [(r.keys["label"], r.keys["sessions"], r.totals.events, r.totals.cost_usd) for r in report.rows]
    assert rows == [
        ("developer", 3, 3, Decimal("1.210000000000")),
        ("reviewer", 1, 1, Decimal("0.090000000000")),
        (None, 1, 1, Decimal("0.000000000001")),  # events without the label: one group
    ]
    assert report.as_dict()["label_key"] == "agent" and "where" not in report.as_dict()


def test_where_keeps_only_events_labelled_so_in_every_kind(lake: Path) -> None:
    where = {"task": "T42", "agent": "developer"}
    label = build_report(lake, "label", label_key="agent", where={"task": "T42"})
    assert [(r.keys["label"], r.totals.input_tokens, r.totals.output_tokens) for r in label.rows] == [
        ("developer", 45_200, 12_100),
        ("reviewer", 12_100, 3_100),
        (None, 1, 1),
    ]
    assert label.totals.cost_usd == Decimal("0.300000000001")
    daily = build_report(lake, "daily", where=where)
    assert [(str(r.keys["date"]), r.totals.events) for r in daily.rows] == [("2025-03-31", 2)]
    assert daily.as_dict()["where"] == {"agent": "developer", "task": "T42"}
    assert build_report(lake, "session", where={"task": "none"}).rows == []


def test_a_quote_in_a_label_is_a_value_not_sql(lake: Path) -> None:
    assert build_report(lake, "daily", where={"task": "x' OR true OR '"}).rows == []


def test_label_kind_needs_a_key_and_others_take_none(lake: Path) -> None:
    with pytest.raises(ValueError, match="needs"):
        build_report(lake, "label")
    with pytest.raises(ValueError, match="takes no"):
        build_report(lake, "daily", label_key="agent")


@pytest.mark.parametrize(
    ("since", "until", "where"),
    [(None, None, {}), ("2025-04-01", None, {}), (None, "2025-03-31", {"task": "T42"})],
)
def test_memory_lake_gives_the_lakes_report_for_every_kind(
    lake: Path, since: str | None, until: str | None, where: dict[str, str]
) -> None:
    for kind in REPORT_KINDS:
        key = "agent" if kind == "label" else None
        expected = build_report(lake, kind, since=since, until=until, label_key=key, where=where)
        with MemoryLake(since=since, until=until, where=where, batch_rows=2) as memory:
            memory.add_all(seed_001())
            got = build_report(memory, kind, since=since, until=until, label_key=key, where=where)
        assert expected.rows, kind
        assert got.as_dict() == expected.as_dict(), kind
