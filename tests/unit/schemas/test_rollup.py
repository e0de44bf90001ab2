"""Subtree rollup and event-time window arithmetic (schemas/rollup.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
from hypothesis import given
from hypothesis import strategies as st

from schemas.rollup import ScopeTotals, WindowTotals, roll_up, roll_up_windows, window_accepts, window_start
from schemas.usage import TokenCounts, UsageEvent

T0 = datetime(2026, 1, 6, 9, 15, 59, 901000, tzinfo=UTC)


def event(scope: str, lineage: tuple[str, ...], cost: str, *, at: datetime = T0, n: int = 0) -> UsageEvent:
    return UsageEvent(
        event_id=f"e-{scope}-{n}",
        source="claude-json",
        runner_id="r",
        session_id=scope,
        lineage=lineage,
        event_time=at,
        tokens=TokenCounts(input_tokens=10, output_tokens=n + 1),
        cost_usd=Decimal(cost).quantize(Decimal("1e-12")),
        cost_source="reported",
    )


def apply_all(events: list[UsageEvent]) -> dict[str, ScopeTotals]:
    state: dict[str, ScopeTotals] = {}
    for e in events:
        for record in roll_up(e, state.get):
            state[record.scope] = record
    return state


def test_grandchild_usage_reaches_every_ancestor_exactly() -> None:
    state = apply_all(
        [
            event("g", ("r", "c"), "0.000000000001"),
            event("r", (), "1.5"),
            event("c", ("r",), "0.25"),
            event("g", ("r", "c"), "0.1", n=1),
        ]
    )
    assert state["r"].subtree.cost_usd == Decimal("1.850000000001")
    assert state["r"].own.cost_usd == Decimal("1.5")
    assert state["c"].subtree.cost_usd == Decimal("0.350000000001")
    assert state["g"].own == state["g"].subtree
    assert state["g"].own.events == 2
    assert state["r"].subtree.events == 4
    assert state["r"].subtree.tokens.input_tokens == 40
    assert (state["r"].children, state["c"].children, state["g"].children) == (1, 1, 0)
    assert state["c"].parent_id == "r" and state["g"].root_id == "r"
    # Every event bumps the version of every scope it touches.
    assert (state["r"].version, state["c"].version, state["g"].version) == (4, 3, 2)


def test_first_and_last_event_time_follow_event_time_not_arrival() -> None:
    late = T0 - timedelta(days=3)
    state = apply_all([event("s", (), "1", at=T0), event("s", (), "1", at=late, n=1)])
    assert state["s"].first_event_time == late
    assert state["s"].last_event_time == T0


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 10**9)), min_size=1, max_size=40))
def test_root_subtree_is_sum_of_all_own_in_any_order(items: list[tuple[int, int]]) -> None:
    scopes = {0: ("r", ()), 1: ("a", ("r",)), 2: ("b", ("r",)), 3: ("a1", ("r", "a")), 4: ("a2", ("r", "a")),
              5: ("a1x", ("r", "a", "a1"))}  # fmt: skip
    events = [
        event(scopes[k][0], scopes[k][1], str(Decimal(micros) / Decimal(10**6)), n=i)
        for i, (k, micros) in enumerate(items)
    ]
    random.Random(len(items)).shuffle(events)
    state = apply_all(events)
    assert state["r"].subtree.cost_usd == sum((s.own.cost_usd for s in state.values()), Decimal(0))
    assert state["r"].subtree.events == len(events)


def test_window_start_is_aligned_to_the_epoch() -> None:
    assert window_start(T0, 60) == datetime(2026, 1, 6, 9, 15, tzinfo=UTC)
    assert window_start(T0, 3600) == datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    nine = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    assert window_start(nine, 3600) == nine


def test_window_grace_is_judged_by_event_time_watermark() -> None:
    start = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert window_accepts(start, 60, None, 300)
    assert window_accepts(start, 60, start + timedelta(seconds=359), 300)
    assert not window_accepts(start, 60, start + timedelta(seconds=360), 300)


def test_windows_roll_up_own_and_subtree_and_skip_late_events() -> None:
    state: dict[str, WindowTotals] = {}
    child = event("c", ("r",), "0.5", at=T0)
    for record in roll_up_windows(child, (60,), T0, 0, state.get):
        state[record.key] = record
    assert {(w.scope, w.own.cost_usd, w.subtree.cost_usd) for w in state.values()} == {
        ("r", Decimal(0).quantize(Decimal("1e-12")), Decimal("0.5")),
        ("c", Decimal("0.5"), Decimal("0.5")),
    }
    late = roll_up_windows(event("c", ("r",), "1", at=T0), (60,), T0 + timedelta(minutes=5), 60, state.get)
    assert late == []


def test_aggregate_records_round_trip_through_json() -> None:
    state = apply_all([event("g", ("r", "c"), "0.123456789012")])
    for record in state.values():
        assert ScopeTotals.from_json_dict(record.to_json_dict()) == record
    window = roll_up_windows(event("r", (), "2"), (3600,), None, 0, lambda _k: None)[0]
    assert WindowTotals.from_json_dict(window.to_json_dict()) == window


def test_records_match_the_published_json_schemas() -> None:
    import json
    from pathlib import Path

    import jsonschema

    folder = Path(__file__).resolve().parents[3] / "schemas"
    totals_schema = json.loads((folder / "totals.schema.json").read_text())
    windows_schema = json.loads((folder / "windows.schema.json").read_text())
    for record in apply_all([event("g", ("r", "c"), "0.5"), event("r", (), "1")]).values():
        jsonschema.validate(record.to_json_dict(), totals_schema)
    for window in roll_up_windows(event("c", ("r",), "2"), (60, 3600), None, 0, lambda _k: None):
        jsonschema.validate(window.to_json_dict(), windows_schema)


def test_a_leaf_scope_shares_one_totals_object_and_encodes_as_two() -> None:
    """own == subtree for a scope without descendants' usage: computed once, the same JSON
    as two separate equal objects, and two JSON objects (changing one leaves the other)."""
    child = event("root/s1", ("root",), "0.25")
    first = apply_all([child])
    leaf = first["root/s1"]
    assert leaf.own is leaf.subtree
    assert leaf.own.cost_usd == Decimal("0.25") and leaf.own.events == 1
    apart = ScopeTotals(
        leaf.scope, leaf.root_id, leaf.parent_id, leaf.own, replace(leaf.subtree), leaf.children,
        leaf.first_event_time, leaf.last_event_time, leaf.version,
    )  # fmt: skip
    assert apart.own is not apart.subtree
    assert orjson.dumps(leaf.to_json_dict()) == orjson.dumps(apart.to_json_dict())
    encoded = leaf.to_json_dict()
    encoded["own"]["events"] = 99
    assert encoded["subtree"]["events"] == 1
    # A parent's own and subtree differ once a child counted: both added to apart.
    state = apply_all([event("root", (), "1.5", n=1), child, event("root", (), "0.5", n=2)])
    root = state["root"]
    assert root.own.cost_usd == Decimal("2.0") and root.subtree.cost_usd == Decimal("2.25")
    assert (root.own.events, root.subtree.events) == (2, 3)
    windows = roll_up_windows(child, (60,), None, 300, lambda _key: None)
    assert [w.own is w.subtree for w in windows] == [False, True]  # root: subtree only
    assert [str(w.subtree.cost_usd) for w in windows] == ["0.250000000000", "0.250000000000"]
    assert [w.own.events for w in windows] == [0, 1]
