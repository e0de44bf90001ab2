"""``rows_table(event_rows(...))`` is ``usage_table`` of the events ``events`` makes and the
selection keeps: every column, on seeded random responses (the seed is in every message),
through both of its routes (integer units, and Decimal for tiers, odd rates, huge counts);
and it raises what the events would raise."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

import sinks.lake_rows as lake_rows
from schemas.pricing import ModelPrice, ModelPrices, PricePeriod, PriceTable, PriceTier, default_price_table
from schemas.response_totals import ResponseTotals, events
from schemas.usage import SchemaError, TokenCounts, UsageEvent
from sinks.lake import rows_table, usage_table
from sinks.lake_rows import EventRows, Selection, event_rows, units
from tests.unit.schemas.test_response_totals import as_plain, observation, random_batch

SOURCE = "claude-transcript"
# Rates of more than 6 decimals (not whole units: through Decimal), and rates so large that
# a response's parts reach 10**18 units (Decimal) or int64 (the lake's decimals from text).
ODD = "odd-model-1"
HUGE = "huge-model-1"
TIERED = "tiered-model-1"


def _price(rate: str) -> ModelPrice:
    value = Decimal(rate)
    return ModelPrice(value, value * 5, value * 2, value * 3, value / 10, Decimal(10))


def prices() -> PriceTable:
    base = default_price_table()
    extra = {
        ODD: ModelPrices(ODD, (PricePeriod(None, _price("1.0000001")),), "test"),
        HUGE: ModelPrices(HUGE, (PricePeriod(None, _price("1000000000")),), "test"),
        TIERED: ModelPrices(
            TIERED,
            (
                PricePeriod(None, _price("3"), (PriceTier(40_000, _price("6")),)),
                PricePeriod(date(2026, 3, 13), _price("2.5")),
            ),
            "test",
        ),
    }
    return replace(base, models={**base.models, **extra})


PRICES = prices()
SELECTIONS = (
    Selection(),
    Selection(since="2026-03-13"),
    Selection(until="2026-03-12"),
    Selection(since="2026-03-12", until="2026-03-12", where={"team": "a"}),
    Selection(where={"team": "b"}),
)


def random_totals(seed: int) -> ResponseTotals:
    """The responses of ``random_batch(seed)``, some moved to the odd, huge and tiered
    models (each response as a whole), some times written at +05:00."""
    rnd = random.Random(seed)
    moved: dict[str, str | None] = {}
    totals = ResponseTotals(keep_steps=True)
    for obs, session in random_batch(seed):
        if obs.identity not in moved:
            moved[obs.identity] = rnd.choice([obs.model, obs.model, ODD, HUGE, TIERED])
        obs = replace(obs, model=moved[obs.identity])
        if rnd.random() < 0.2:
            obs = replace(obs, event_time=obs.event_time.astimezone(timezone(timedelta(hours=5))))
        if obs.model is not None and obs.message_id is not None and rnd.random() < 0.5:
            totals.add_plain(as_plain(obs, session))
        else:
            totals.add_observation(obs)
    totals.finish(PRICES, "computed")
    return totals


def want_table(totals: ResponseTotals, selection: Selection, labels: dict[str, str]) -> pa.Table:
    made = events(totals, PRICES, source=SOURCE, runner_id="runner-1", labels=labels)
    return usage_table(0, list(enumerate(event for event in made if selection(event))))


def got_table(totals: ResponseTotals, selection: Selection, labels: dict[str, str]) -> pa.Table:
    rows = event_rows(totals, PRICES, source=SOURCE, runner_id="runner-1", labels=labels, selection=selection)
    return rows_table(rows)


def assert_same_table(got: pa.Table, want: pa.Table, what: str) -> None:
    assert got.schema == want.schema, what
    assert got.num_rows == want.num_rows, what
    for name in want.column_names:
        assert got[name].to_pylist() == want[name].to_pylist(), f"{what} column={name}"
    assert got.equals(want), what


@pytest.mark.parametrize("seed", range(40))
def test_the_rows_are_the_selected_events_table(seed: int) -> None:
    totals = random_totals(seed)
    for labels in ({}, {"team": "a"}):
        for selection in SELECTIONS:
            what = f"seed={seed} labels={labels} selection={selection}"
            want = want_table(totals, selection, labels)
            assert_same_table(got_table(totals, selection, labels), want, what)


def test_the_random_responses_take_both_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    through_decimal: list[str] = []
    real = lake_rows.response_events

    def counted(identity: str, *args: Any, **kwargs: Any) -> Any:
        through_decimal.append(identity)
        return real(identity, *args, **kwargs)

    monkeypatch.setattr(lake_rows, "response_events", counted)
    responses = rows = 0
    models: set[str | None] = set()
    for seed in range(40):
        totals = random_totals(seed)
        responses += sum(1 for r in totals.responses.values() if r.steps)
        rows += len(got_table(totals, Selection(), {}))
        models |= {r.compat[3] for r in totals.responses.values()}
    assert {ODD, HUGE, TIERED, None} <= models
    # Hundreds of responses each way (the integer route takes the rest).
    assert 200 < len(through_decimal) < responses - 200, (len(through_decimal), responses)
    assert rows > responses


def test_amounts_beyond_int64_units_are_exact() -> None:
    moment = datetime(2026, 3, 12, 9, tzinfo=UTC)
    big = observation("claude:s-1:m", "s-1", "s-1", HUGE, moment, (10**6, 10**6, 0, 0, 0, 0, 0))
    totals = ResponseTotals(keep_steps=True)
    totals.add_observation(big)
    got = got_table(totals, Selection(), {})
    assert_same_table(got, want_table(totals, Selection(), {}), "huge")
    # 10**6 input at $10**9 and 10**6 output at $5 * 10**9 per million tokens
    assert got["cost_usd"].to_pylist() == [Decimal(6 * 10**9)]


def _one_response(**changes: Any) -> ResponseTotals:
    moment = changes.pop("moment", datetime(2026, 3, 12, 9, tzinfo=UTC))
    obs = observation("claude:s-1:m", "s-1", "s-1", "claude-opus-4-5-20251101", moment, (5, 7, 0, 0, 0, 0, 0))
    totals = ResponseTotals(keep_steps=True)
    totals.add_observation(replace(obs, **changes))
    totals.add_observation(replace(obs, tokens=TokenCounts(5, 9), **changes))
    return totals


# Responses whose events are refused (runner id, model id, lineage, request id, naive time).
BAD_RESPONSES = [
    (_one_response(), ""),
    (_one_response(model="m" * 600), "runner-1"),
    (_one_response(lineage=("s-1",)), "runner-1"),
    (_one_response(request_id=""), "runner-1"),
    (_one_response(moment=datetime(2026, 3, 12, 9)), "runner-1"),
]
BAD_IDS = ["runner", "model", "lineage", "request", "naive-time"]


@pytest.mark.parametrize(("totals", "runner_id"), BAD_RESPONSES, ids=BAD_IDS)
def test_a_bad_event_raises_as_the_event_does(totals: ResponseTotals, runner_id: str) -> None:
    with pytest.raises(SchemaError) as want:
        list(events(totals, PRICES, source=SOURCE, runner_id=runner_id, labels={}))
    with pytest.raises(SchemaError) as got:
        event_rows(totals, PRICES, source=SOURCE, runner_id=runner_id, labels={}, selection=Selection())
    assert str(got.value) == str(want.value)


def test_units_are_exact_and_refuse_finer_amounts() -> None:
    assert units(Decimal("0.000000000001")) == 1
    assert units(Decimal("12.5")) == 12_500_000_000_000
    assert units(Decimal("0E-12")) == 0
    assert units(Decimal(10**20)) == 10**32
    with pytest.raises(ValueError):
        units(Decimal("0.0000000000001"))


def test_rows_of_another_runner_are_not_merged() -> None:
    with pytest.raises(ValueError):
        EventRows(SOURCE, "a", {}).extend(EventRows(SOURCE, "b", {}))


def test_added_events_keep_every_column() -> None:
    event = UsageEvent(
        event_id="e1",
        source="claude-json",
        runner_id="r",
        session_id="s/agent-a",
        lineage=("s",),
        agent_id="a",
        model="claude-opus-4-5-20251101",
        event_time=datetime(2026, 3, 12, 9, 30, 1, 5, tzinfo=timezone(timedelta(hours=-3))),
        tokens=TokenCounts(1, 2, 1, 3, 4, 5, 6),
        cost_usd=Decimal("1.5"),
        cost_source="computed",
        auth_mode="unknown",
        message_id="msg",
        request_id=None,
    )
    rows = EventRows("claude-json", "r", {})
    rows.add_event(event)
    assert_same_table(rows_table(rows), usage_table(0, [(0, event)]), "no split")
