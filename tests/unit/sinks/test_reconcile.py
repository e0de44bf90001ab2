"""Reconcile arithmetic (sinks/reconcile.py): latest version per scope, roots, exact comparison."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson

from schemas.rollup import ScopeTotals, Totals
from schemas.usage import TokenCounts
from sinks.reconcile import (
    FIELDS,
    Difference,
    Reconciliation,
    TotalsRecord,
    compare,
    lake_root_totals,
    latest_per_scope,
    root_subtrees,
)
from spendstream.commands.reconcile_cmd import render_reconciliation
from tests.unit.sinks.factory import write_report_lake


def totals(cost: str, events: int, **tokens: int) -> Totals:
    return Totals(TokenCounts(**tokens), Decimal(cost), events)


def record(offset: int, scope: str, version: int, cost: str, parent: str | None = None) -> TotalsRecord:
    value = ScopeTotals(
        scope=scope,
        root_id=parent or scope,
        parent_id=parent,
        subtree=totals(cost, version, input_tokens=version),
        version=version,
    ).to_json_dict()
    return TotalsRecord(0, offset, scope.encode(), orjson.dumps(value))


def test_the_highest_version_per_scope_wins_whatever_the_order_and_repeats() -> None:
    records = [
        record(0, "r1", 1, "1"),
        record(1, "r1", 3, "3"),
        record(2, "r1", 2, "2"),  # stale: arrives after version 3
        record(3, "r1", 3, "3"),  # a repeat of version 3
        record(4, "r1/agent-a", 1, "5", parent="r1"),
    ]
    latest, unreadable = latest_per_scope(records)
    assert unreadable == []
    assert {scope: (r.version, r.subtree.cost_usd) for scope, r in latest.items()} == {
        "r1": (3, Decimal("3")),
        "r1/agent-a": (1, Decimal("5")),
    }
    # Only roots (no parent) are compared: a child's subtree is inside its root's.
    assert root_subtrees(latest) == {"r1": totals("3", 3, input_tokens=3)}


def test_records_that_are_not_totals_are_reported_by_position() -> None:
    bad = [
        TotalsRecord(1, 7, b"r9", b"{not json"),
        TotalsRecord(2, 8, None, b"{}"),
        TotalsRecord(2, 9, b"r9", orjson.dumps({"scope": "r9"})),
    ]
    latest, unreadable = latest_per_scope(bad)
    assert latest == {}
    assert unreadable == [
        "p1@7: not a totals record (JSONDecodeError)",
        "p2@8: no key or no value",
        "p2@9: not a totals record (KeyError)",
    ]


def test_compare_reports_each_differing_figure_exactly() -> None:
    topic = {
        "a": totals("1.000000000001", 2, input_tokens=5, cache_write_1h_tokens=3),
        "b": totals("2", 1),
        "c": totals("0.5", 1, output_tokens=4),
    }
    lake = {
        "a": totals("1.0000000000010", 2, input_tokens=5, cache_write_1h_tokens=3),  # equal
        "b": totals("2.000000000001", 2, reasoning_tokens=1),
        "d": totals("0.25", 1),
    }
    assert compare(topic, lake) == [
        Difference("b", "cost_usd", Decimal("2"), Decimal("2.000000000001")),
        Difference("b", "reasoning_tokens", 0, 1),
        Difference("b", "events", 1, 2),
        Difference("c", "cost_usd", Decimal("0.5"), None),
        *[Difference("c", name, 4 if name == "output_tokens" else 0, None) for name in FIELDS[1:-1]],
        Difference("c", "events", 1, None),
        Difference("d", "cost_usd", None, Decimal("0.25")),
        *[Difference("d", name, None, 0) for name in FIELDS[1:-1]],
        Difference("d", "events", None, 1),
    ]
    assert compare(topic, {**topic}) == []


def test_lake_root_totals_sum_whole_trees(tmp_path: Path) -> None:
    write_report_lake(tmp_path)  # r1 > c1 > g1 over two days and partitions, and r2
    assert lake_root_totals(tmp_path) == {
        "r1": totals(
            "3.873456789013",
            4,
            input_tokens=114,
            output_tokens=61,
            reasoning_tokens=1,
            cache_read_tokens=807,
            cache_write_5m_tokens=100,
            cache_write_1h_tokens=90,
        ),
        "r2": totals("0.333333333333", 1),
    }
    assert lake_root_totals(tmp_path / "empty") == {}


def test_render_says_agree_or_lists_differences() -> None:
    assert render_reconciliation(Reconciliation(roots=3)) == "all 3 root scopes agree\n"
    text = render_reconciliation(
        Reconciliation(
            roots=2,
            differences=[
                Difference("r1", "cost_usd", Decimal("1.5"), Decimal("1.500000000001")),
                Difference("r2", "events", None, 1),
            ],
            unreadable=["p0@4: no key or no value"],
        )
    )
    lines = text.splitlines()
    assert lines[0].split() == ["root_id", "field", "totals_topic", "lake"]
    assert [line.split() for line in lines if line.startswith(("r1 ", "r2 "))] == [
        ["r1", "cost_usd", "1.5", "1.500000000001"],
        ["r2", "events", "(absent)", "1"],
    ]
    assert lines[-2:] == [
        "2 differences in 2 of 2 root scopes",
        "unreadable totals record p0@4: no key or no value",
    ]
