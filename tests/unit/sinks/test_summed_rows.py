"""Summed rows (sinks/summed_rows.py) give every report the values the events themselves
give: on seeded random responses (both pricing routes, odd times, several days; the seed
is in every message), for every kind, grain, date window and label selection; they raise
what the events raise; and the money arrays are the exact decimals."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from schemas.response_totals import ResponseTotals, events
from schemas.usage import SchemaError, TokenCounts, UsageEvent
from sinks.lake import COST_TYPE, money_array, usage_table
from sinks.lake_rows import Selection
from sinks.memory_lake import MemoryLake
from sinks.report_kinds import REPORT_KINDS, grains_for
from sinks.reports import build_report
from sinks.summed_rows import SummedRows, Summing, summed_rows
from tests.unit.sinks.test_lake_rows import (
    BAD_IDS,
    BAD_RESPONSES,
    PRICES,
    SELECTIONS,
    SOURCE,
    _one_response,
    random_totals,
)

KINDS = [kind for kind in REPORT_KINDS if kind != "label"]


def reports(lake: MemoryLake, kinds: list[str]) -> dict[str, Any]:
    got: dict[str, Any] = {kind: build_report(lake, kind).as_dict() for kind in kinds}
    got["label"] = build_report(lake, "label", label_key="team").as_dict()
    return got


def event_lake(made: list[UsageEvent], selection: Selection) -> MemoryLake:
    lake = MemoryLake(since=selection.since, until=selection.until, where=selection.where)
    kept = [event for event in made if selection(event)]
    lake.add_tables([usage_table(0, list(enumerate(kept)))])
    return lake


def summed_lake(
    totals: ResponseTotals, selection: Selection, labels: dict[str, str], grain: str
) -> MemoryLake:
    lake = MemoryLake(since=selection.since, until=selection.until, where=selection.where, grain=grain)  # type: ignore[arg-type]
    summing = lake.selector()
    assert isinstance(summing, Summing)
    rows = summed_rows(totals, PRICES, source=SOURCE, runner_id="runner-1", labels=labels, summing=summing)
    lake.add_tables([rows])
    return lake


@pytest.mark.parametrize("seed", range(12))
def test_summed_rows_report_what_the_events_report(seed: int) -> None:
    totals = random_totals(seed)
    for labels in ({}, {"team": "a"}):
        made = list(events(totals, PRICES, source=SOURCE, runner_id="runner-1", labels=labels))
        for selection in SELECTIONS:
            with event_lake(made, selection) as lake:
                want = reports(lake, KINDS)
            for grain in ("scope", "response"):
                kinds = [kind for kind in KINDS if grain in grains_for(kind)]
                with summed_lake(totals, selection, labels, grain) as lake:
                    got = reports(lake, kinds)
                what = f"seed={seed} labels={labels} selection={selection} grain={grain}"
                assert got == {kind: want[kind] for kind in got}, what
                assert got["session"]["totals"]["events"] == sum(1 for e in made if selection(e)), what


def test_the_scope_grain_is_far_fewer_rows_and_refuses_messages() -> None:
    totals = random_totals(7)
    events_kept = sum(1 for _ in events(totals, PRICES, source=SOURCE, runner_id="r", labels={}))
    by_scope = summed_rows(
        totals, PRICES, source=SOURCE, runner_id="r", labels={}, summing=Summing(Selection())
    )
    by_response = summed_rows(
        totals, PRICES, source=SOURCE, runner_id="r", labels={}, summing=Summing(Selection(), "response")
    )
    assert by_scope.events == by_response.events == events_kept
    assert len(by_scope) < len(by_response) < events_kept
    with MemoryLake(grain="scope") as lake:
        lake.add_tables([by_scope])
        with pytest.raises(ValueError, match="messages"):
            build_report(lake, "messages")
    with pytest.raises(ValueError):
        Summing(Selection(), "event")  # type: ignore[arg-type]


@pytest.mark.parametrize(("totals", "runner_id"), BAD_RESPONSES, ids=BAD_IDS)
def test_a_bad_event_raises_as_the_event_does(totals: ResponseTotals, runner_id: str) -> None:
    with pytest.raises(SchemaError) as want:
        list(events(totals, PRICES, source=SOURCE, runner_id=runner_id, labels={}))
    for grain in ("scope", "response"):
        with pytest.raises(SchemaError) as got:
            summed_rows(
                totals,
                PRICES,
                source=SOURCE,
                runner_id=runner_id,
                labels={},
                summing=Summing(Selection(), grain),
            )
        assert str(got.value) == str(want.value)


def _event(n: int, **changes: Any) -> UsageEvent:
    fields: dict[str, Any] = {
        "event_id": f"e{n}",
        "source": "codex-json",
        "runner_id": "r",
        "session_id": "s",
        "lineage": (),
        "agent_id": None,
        "model": "gpt-5",
        "event_time": datetime(2026, 3, 12, 23, 59, tzinfo=timezone(timedelta(hours=-3)))
        + timedelta(hours=n),
        "tokens": TokenCounts(n, 2 * n),
        "cost_usd": Decimal(n) / 1000,
        "cost_source": "reported",
        "auth_mode": "api_key",
        "labels": {"team": "a", "env": "ci"} if n % 2 else {"env": "ci", "team": "a"},
    }
    fields.update(changes)
    return UsageEvent(**fields)


def test_events_added_one_by_one_sum_per_key_and_utc_day() -> None:
    rows = SummedRows("scope")
    made = [_event(n) for n in range(1, 7)]  # 02:59 UTC on the 13th, then hourly
    made.append(_event(30, auth_mode="subscription"))  # another key: its billing
    made.append(_event(40, cost_split=None, cost_usd=Decimal("0.5"), cost_source="computed"))
    for one in made:
        rows.add_event(one)
    assert rows.events == 8
    assert len(rows) == 3  # six events of one key and day; then another day and billing; another source
    table = rows.table()
    assert table.column_names[-2:] == ["event_rows", "last_event_time"]
    first = table.slice(0, 1).to_pylist()[0]
    assert first["event_rows"] == 6
    assert first["event_time"] == made[0].event_time
    assert first["last_event_time"] == made[5].event_time
    assert first["input_tokens"] == 21 and first["output_tokens"] == 42
    assert first["cost_usd"] == Decimal("0.021")
    assert first["event_id"] is None
    assert sorted(first["labels"]) == [("env", "ci"), ("team", "a")]
    with MemoryLake(grain="scope") as lake:
        for one in made:
            lake.add(one)
        with MemoryLake() as one_per_row:
            one_per_row.add_all(made)
            assert reports(lake, KINDS[:-1]) == reports(one_per_row, KINDS[:-1])


@pytest.mark.parametrize("seed", range(5))
def test_money_arrays_are_the_exact_decimals(seed: int) -> None:
    rnd = random.Random(seed)
    pool = pa.system_memory_pool()
    for _ in range(200):
        values = [
            None
            if rnd.random() < 0.2
            else rnd.choice([0, 1, -1, 2**63 - 1, -(2**63), 2**64, -(10**30), rnd.randint(-(10**15), 10**15)])
            for _ in range(rnd.randint(0, 40))
        ]
        got = money_array(values, pool)
        want = pa.array([None if v is None else Decimal(v).scaleb(-12) for v in values], COST_TYPE)
        got.validate(full=True)
        assert got.equals(want), f"seed={seed} values={values}"


def test_a_day_boundary_inside_a_response_is_summed_per_day() -> None:
    """A response whose steps fall on two UTC days (possible only for times not in UTC) is
    summed event by event, each on its own day."""
    totals = _one_response(moment=datetime(2026, 3, 12, 23, 59, 59, tzinfo=UTC))
    response = next(iter(totals.responses.values()))
    assert response.steps is not None
    late = datetime(2026, 3, 13, 0, 0, 1, tzinfo=UTC)
    response.steps[-1] = (response.steps[-1][0], late)
    response.last = late
    rows = summed_rows(totals, PRICES, source=SOURCE, runner_id="r", labels={}, summing=Summing(Selection()))
    assert sorted(key[11].isoformat() for key in rows.groups) == ["2026-03-12", "2026-03-13"]
