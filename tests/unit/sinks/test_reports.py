"""Reports on a synthetic lake: exact costs (12 places), exact tokens, ratios as defined."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sinks.reports import Report, Totals, build_report, ratio
from tests.unit.sinks.factory import HAIKU, SONNET, write_report_lake


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    write_report_lake(tmp_path)
    return tmp_path


def table(report: Report, *keys: str) -> list[tuple[object, ...]]:
    return [
        (
            *(row.keys[k] for k in keys),
            row.totals.events,
            row.totals.cost_usd,
            row.totals.cache_hit_ratio,
            row.totals.cache_write_overhead,
        )
        for row in report.rows
    ]


def test_ratio_rounds_half_even_and_is_none_without_prompt_tokens() -> None:
    assert ratio(807, 1008) == Decimal("0.8006")
    assert ratio(1, 8) == Decimal("0.1250")
    assert ratio(5, 200000) == Decimal("0.0000")  # 0.000025 -> half-even -> 0.0000
    assert ratio(15, 200000) == Decimal("0.0001")  # 0.000075 -> 0.0001
    assert ratio(0, 0) is None


def test_daily(lake: Path) -> None:
    report = build_report(lake, "daily")
    assert [(str(r.keys["date"]), r.totals) for r in report.rows] == [
        ("2025-03-31", Totals(2, 101, 52, 1, 807, 100, 0, 0, Decimal("1.623456789012"))),
        ("2025-04-01", Totals(3, 13, 9, 0, 0, 0, 90, 0, Decimal("2.583333333334"))),
    ]
    assert table(report, "date")[0][3:] == (Decimal("0.8006"), Decimal("0.0992"))
    assert table(report, "date")[1][3:] == (Decimal("0.0000"), Decimal("0.8738"))
    assert report.totals == Totals(5, 114, 61, 1, 807, 100, 90, 0, Decimal("4.206790122346"))
    assert (report.totals.cache_hit_ratio, report.totals.cache_write_overhead) == (
        Decimal("0.7264"),
        Decimal("0.1710"),
    )
    assert report.totals.total_tokens == 114 + 61 + 807 + 100 + 90


def test_monthly(lake: Path) -> None:
    report = build_report(lake, "monthly")
    assert [(r.keys["month"], r.totals.events, r.totals.cost_usd) for r in report.rows] == [
        ("2025-03", 2, Decimal("1.623456789012")),
        ("2025-04", 3, Decimal("2.583333333334")),
    ]


def test_session(lake: Path) -> None:
    report = build_report(lake, "session")
    assert table(report, "session_id", "root_id", "models") == [
        ("r1", "r1", [HAIKU, SONNET], 2, Decimal("0.123456789013"), Decimal("0.7273"), Decimal("0.1727")),
        ("c1", "r1", [SONNET], 1, Decimal("1.500000000000"), Decimal("0.8750"), Decimal("0.0000")),
        ("g1", "r1", [], 1, Decimal("2.250000000000"), Decimal("0.0000"), Decimal("0.0000")),
        ("r2", "r2", [SONNET], 1, Decimal("0.333333333333"), None, None),
    ]
    r1 = report.rows[0].totals
    assert (r1.input_tokens, r1.output_tokens, r1.cache_read_tokens, r1.cache_write_tokens) == (
        110,
        55,
        800,
        190,
    )


def test_model(lake: Path) -> None:
    report = build_report(lake, "model")
    assert [
        (r.keys["model"], r.keys["sessions"], r.totals.events, r.totals.cost_usd) for r in report.rows
    ] == [
        (None, 1, 1, Decimal("2.250000000000")),
        (SONNET, 3, 3, Decimal("1.956790122345")),
        (HAIKU, 1, 1, Decimal("0.000000000001")),
    ]


def test_tree_rows_are_subtree_totals(lake: Path) -> None:
    report = build_report(lake, "tree")
    got = [
        (
            r.keys["scope_id"],
            r.keys["parent_id"],
            r.keys["depth"],
            r.keys["sessions"],
            r.keys["own_cost_usd"],
            r.totals.events,
            r.totals.cost_usd,
            r.totals.output_tokens,
        )
        for r in report.rows
    ]
    assert got == [
        ("r1", None, 0, 3, Decimal("0.123456789013"), 4, Decimal("3.873456789013"), 61),
        ("c1", "r1", 1, 2, Decimal("1.500000000000"), 2, Decimal("3.750000000000"), 6),
        ("g1", "c1", 2, 1, Decimal("2.250000000000"), 1, Decimal("2.250000000000"), 4),
        ("r2", None, 0, 1, Decimal("0.333333333333"), 1, Decimal("0.333333333333"), 0),
    ]
    assert report.totals.cost_usd == Decimal("4.206790122346")  # roots only: nothing counted twice


def test_since_and_until_are_inclusive_event_dates(lake: Path) -> None:
    later = build_report(lake, "session", since="2025-04-01")
    assert [(r.keys["session_id"], r.totals.cost_usd) for r in later.rows] == [
        ("r1", Decimal("0.000000000001")),
        ("g1", Decimal("2.250000000000")),
        ("r2", Decimal("0.333333333333")),
    ]
    earlier = build_report(lake, "daily", until="2025-03-31")
    assert [r.totals.cost_usd for r in earlier.rows] == [Decimal("1.623456789012")]
    assert build_report(lake, "daily", since="2025-04-02").rows == []


def test_an_empty_lake_gives_empty_reports(tmp_path: Path) -> None:
    for kind in ("daily", "monthly", "session", "model", "tree"):
        report = build_report(tmp_path, kind)
        assert report.rows == [] and report.totals == Totals()
    with pytest.raises(ValueError):
        build_report(tmp_path, "weekly")
