"""Reports on a synthetic lake: exact costs (12 places), exact tokens, ratios as defined.

The factory's events have reported costs, split by the ledger's rule (schemas/attribution.py)
at the table's prices: sonnet 3 / 15 / 0.30 read / 3.75 5m write, haiku 1 / 5 / 2 1h write.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import pytest

from sinks.lake import write_usage_batch
from sinks.reports import Report, Totals, build_report, ratio
from tests.unit.sinks.factory import HAIKU, SONNET, TOPIC, event, write_report_lake


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


def usage(totals: Totals) -> tuple[object, ...]:
    """Events, token counts and cost (the split apart)."""
    return tuple(totals.as_dict()[name] for name in [f.name for f in fields(Totals)][:9])


def split(totals: Totals) -> tuple[Decimal, ...]:
    return (
        totals.input_cost_usd,
        totals.output_cost_usd,
        totals.cache_read_cost_usd,
        totals.cache_write_5m_cost_usd,
        totals.cache_write_1h_cost_usd,
        totals.unsplit_cost_usd,
    )


def test_daily(lake: Path) -> None:
    report = build_report(lake, "daily")
    assert [(str(r.keys["date"]), usage(r.totals)) for r in report.rows] == [
        ("2025-03-31", (2, 101, 52, 1, 807, 100, 0, 0, Decimal("1.623456789012"))),
        ("2025-04-01", (3, 13, 9, 0, 0, 0, 90, 0, Decimal("2.583333333334"))),
    ]
    # cache hit = 807 / (101 + 807); write overhead = 0.027805583110 / 1.623456789012.
    assert table(report, "date")[0][3:] == (Decimal("0.8888"), Decimal("0.0171"))
    assert table(report, "date")[1][3:] == (Decimal("0.0000"), Decimal("0.0000"))
    assert split(report.rows[1].totals) == (
        Decimal("2.583333333333"),  # g1 has no model and r2 no tokens: all input
        Decimal(0),
        Decimal(0),
        Decimal(0),
        Decimal("0.000000000001"),  # haiku's 1 picodollar: all on its largest part
        Decimal(0),
    )
    assert usage(report.totals) == (5, 114, 61, 1, 807, 100, 90, 0, Decimal("4.206790122346"))
    assert sum(split(report.totals)) == report.totals.cost_usd
    assert report.totals.cache_write_cost_usd == Decimal("0.027805583111")
    assert (report.totals.cache_hit_ratio, report.totals.cache_write_overhead) == (
        Decimal("0.8762"),
        Decimal("0.0066"),
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
        ("r1", "r1", [HAIKU, SONNET], 2, Decimal("0.123456789013"), Decimal("0.8791"), Decimal("0.2252")),
        ("c1", "r1", [SONNET], 1, Decimal("1.500000000000"), Decimal("0.8750"), Decimal("0.0000")),
        ("g1", "r1", [], 1, Decimal("2.250000000000"), Decimal("0.0000"), Decimal("0.0000")),
        ("r2", "r2", [SONNET], 1, Decimal("0.333333333333"), None, Decimal("0.0000")),
    ]
    # c1: 1.5 over priced parts 3 : 30 : 2.1 (input 1 at $3, output 2 at $15, read 7 at
    # $0.30), each share rounded down, the picodollar left to output (the largest).
    assert split(report.rows[1].totals) == (
        Decimal("0.128205128205"),
        Decimal("1.282051282052"),
        Decimal("0.089743589743"),
        Decimal(0),
        Decimal(0),
        Decimal(0),
    )
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
    for kind in ("daily", "monthly", "session", "model", "tree", "messages"):
        report = build_report(tmp_path, kind)
        assert report.rows == [] and report.totals == Totals()
    with pytest.raises(ValueError):
        build_report(tmp_path, "weekly")


def test_messages_one_row_per_response_and_session_filter(tmp_path: Path) -> None:
    """Deltas of one (session, message_id) merge, whichever view carried the requestId (a
    transcript line has it, a stream-json line of the same response not); a session includes
    its subagents."""
    deltas = [
        event(1, session="s1", cost="0.5", output_tokens=10).with_changes(message_id="m1", request_id="q1"),
        event(2, session="s1", cost="0.25", output_tokens=5).with_changes(message_id="m1", request_id="q1"),
        event(3, session="s1", cost="0.1").with_changes(message_id="m1"),  # no requestId: the same response
        event(4, session="s1/agent-a", lineage=["s1"], cost="0.2").with_changes(message_id="m2"),
        event(5, session="s2", cost="0.3").with_changes(message_id="m1", request_id="q1"),
        event(6, session="s2", cost="0.4"),  # a source without response ids
    ]
    write_usage_batch(tmp_path, TOPIC, 0, list(enumerate(deltas)))
    report = build_report(tmp_path, "messages")
    got = [
        (r.keys["session_id"], r.keys["message_id"], r.keys["request_id"], r.totals.events, r.totals.cost_usd)
        for r in report.rows
    ]
    assert sorted(got, key=str) == sorted(
        [
            ("s1", "m1", "q1", 3, Decimal("0.85")),
            ("s1/agent-a", "m2", None, 1, Decimal("0.2")),
            ("s2", "m1", "q1", 1, Decimal("0.3")),
            ("s2", None, None, 1, Decimal("0.4")),
        ],
        key=str,
    )
    assert report.rows[0].totals.output_tokens == 17  # 10 + 5 + the third delta's 2
    assert all(sum(split(r.totals)) == r.totals.cost_usd for r in report.rows)
    only = build_report(tmp_path, "messages", session="s1")
    assert [r.keys["session_id"] for r in only.rows] == ["s1", "s1/agent-a"]
    assert only.totals.cost_usd == Decimal("1.05")
    with pytest.raises(ValueError, match="takes no session"):
        build_report(tmp_path, "daily", session="s1")
