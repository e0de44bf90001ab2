from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.ledger import (
    IdentityState,
    MemoryLedger,
    apply,
    dedup_key,
    event_for,
    group_key,
    identity_key,
    merge,
)
from schemas.ledger_groups import MAX_MODEL_SHARES, GroupState, ModelShare
from schemas.money import ZERO_USD
from schemas.pricing import CostMode, canonical_model
from schemas.sources import BadLine, Observation
from schemas.usage import TOKEN_FIELDS, SchemaError, TokenCounts, UsageEvent

from .support import context, total_cost, total_tokens

CTX = context("claude-transcript", labels={"task": "t-1"})
T0 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
OPUS = "claude-opus-4-5-20251101"


def obs(
    identity: str = "r1", *, model: str | None = OPUS, cost: str | None = None, **counts: int
) -> Observation:
    return Observation(
        identity=identity,
        session_id="s1",
        event_time=T0,
        tokens=TokenCounts(**counts),
        reported_cost_usd=None if cost is None else Decimal(cost),
        model=model,
    )


def feed(observations: list[Observation], mode: CostMode = "reported") -> list[UsageEvent]:
    ledger = MemoryLedger(mode=mode)
    return [e for e in (ledger.observe(o, CTX) for o in observations) if e is not None]


# --- the dedup key and which duplicate wins ---------------------------------------------


def test_the_dedup_key_is_the_identity() -> None:
    assert dedup_key(obs("claude:msg:req")) == "claude:msg:req"
    assert identity_key(obs("x")) == "id:x"
    assert group_key(obs("x")) is None
    assert group_key(replace(obs("x"), group="g")) == "group:g"


def test_field_wise_maximum_and_largest_reported_cost_win() -> None:
    state = merge(IdentityState(), obs(input_tokens=5, output_tokens=3, cost="0.2"))
    state = merge(state, obs(input_tokens=4, output_tokens=9, cost="0.1"))
    assert state.tokens == TokenCounts(input_tokens=5, output_tokens=9)
    assert state.reported_cost == Decimal("0.2")
    assert state.cost == ZERO_USD  # merge never counts cost; apply does


def test_a_duplicate_emits_nothing() -> None:
    events = feed([obs(input_tokens=10, output_tokens=1)] * 3)
    assert len(events) == 1


def test_growth_emits_only_what_grew_and_smaller_snapshots_nothing() -> None:
    events = feed(
        [
            obs(input_tokens=10, output_tokens=1, cache_read_tokens=100),
            obs(input_tokens=10, output_tokens=7, cache_read_tokens=100),
            obs(input_tokens=10, output_tokens=4, cache_read_tokens=100),
            obs(input_tokens=12, output_tokens=5, cache_read_tokens=90),
        ]
    )
    assert [e.tokens for e in events] == [
        TokenCounts(input_tokens=10, output_tokens=1, cache_read_tokens=100),
        TokenCounts(output_tokens=6),
        TokenCounts(input_tokens=2),
    ]
    # computed cost of a delta = price(new) - price(old): 6 output tokens at $25/M
    assert events[1].cost_usd == Decimal("0.000150")
    assert {e.cost_source for e in events} == {"computed"}


counts = st.fixed_dictionaries({n: st.integers(0, 10**6) for n in TOKEN_FIELDS})


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), counts), min_size=1, max_size=25), st.randoms())
def test_any_order_and_any_repeats_count_the_same(
    reports: list[tuple[str, dict[str, int]]], rnd: random.Random
) -> None:
    observations = [replace(obs(i), tokens=TokenCounts(**c)) for i, c in reports]
    shuffled = observations + observations[: len(observations) // 2]
    rnd.shuffle(shuffled)
    first, second = feed(observations), feed(shuffled)
    expected = TokenCounts()
    for identity in {i for i, _ in reports}:
        best = {n: max(c[n] for i, c in reports if i == identity) for n in TOKEN_FIELDS}
        expected = expected + TokenCounts(**best)
    assert total_tokens(first) == total_tokens(second) == expected
    assert total_cost(first) == total_cost(second)


# --- cost modes -------------------------------------------------------------------------


def test_reported_mode_uses_reported_cost_and_computes_when_missing() -> None:
    reported = feed([obs("a", cost="0.5", input_tokens=10), obs("b", input_tokens=1_000_000, model="gpt-5")])
    assert [(e.cost_usd, e.cost_source) for e in reported] == [
        (Decimal("0.5"), "reported"),
        (Decimal("1.25"), "computed"),
    ]


def test_computed_mode_ignores_reported_cost() -> None:
    events = feed([obs("a", cost="0.5", input_tokens=1_000_000)], mode="computed")
    assert [(e.cost_usd, e.cost_source) for e in events] == [(Decimal(5), "computed")]


def test_reported_only_mode_never_computes() -> None:
    events = feed([obs("a", cost="0.5", input_tokens=1), obs("b", input_tokens=1)], mode="reported-only")
    assert [(e.cost_usd, e.cost_source) for e in events] == [
        (Decimal("0.5"), "reported"),
        (ZERO_USD, "unpriced"),
    ]


def test_unknown_model_is_unpriced_with_zero_cost() -> None:
    (event,) = feed([obs(model="mystery-1", input_tokens=5)])
    assert (event.cost_usd, event.cost_source) == (ZERO_USD, "unpriced")


def test_counted_cost_never_decreases() -> None:
    # computed first ($5), then a lower reported figure: no negative correction
    events = feed([obs(input_tokens=1_000_000), obs(input_tokens=1_000_000, cost="1")])
    assert [e.cost_usd for e in events] == [Decimal(5)]
    # reported grows later: only the growth
    events = feed([obs(cost="1", input_tokens=1), obs(cost="1.5", input_tokens=1)])
    assert [(e.tokens.is_zero(), e.cost_usd) for e in events] == [(False, Decimal(1)), (True, Decimal("0.5"))]


# --- groups: a reported total over parts ------------------------------------------------


def part(identity: str, **counts: int) -> Observation:
    return replace(obs(identity), tokens=TokenCounts(**counts), group="run")


def total(identity: str = "result", cost: str | None = None, **counts: int) -> Observation:
    return replace(obs(identity, cost=cost, model=None, **counts), group="run", is_group_total=True)


def test_a_total_adds_only_its_excess_over_the_parts() -> None:
    events = feed(
        [part("m1", output_tokens=10), part("m2", output_tokens=5), total(output_tokens=40, cost="0.01")]
    )
    assert [e.tokens.output_tokens for e in events] == [10, 5, 25]
    assert total_tokens(events).output_tokens == 40


def test_parts_after_the_total_add_nothing_until_they_exceed_it() -> None:
    events = feed([total(output_tokens=40, input_tokens=3), part("m1", output_tokens=10, input_tokens=5)])
    assert total_tokens(events) == TokenCounts(output_tokens=40, input_tokens=5)


def test_group_cost_is_the_larger_of_parts_and_total() -> None:
    # parts computed at $25/M output: 1M tokens -> $25; the result reports $30
    events = feed([part("m1", output_tokens=1_000_000), total(output_tokens=1_000_000, cost="30")])
    assert [(e.cost_usd, e.cost_source) for e in events] == [
        (Decimal(25), "computed"),
        (Decimal(5), "reported"),
    ]


HAIKU = "claude-haiku-4-5-20251001"


def test_totals_of_several_identities_add_up_each_counted_once() -> None:
    # two claude -p results of one session (a --resume): two processes, two spends
    events = feed(
        [total("r1", output_tokens=40), total("r2", output_tokens=30), total("r1", output_tokens=40)]
    )
    assert total_tokens(events).output_tokens == 70


def test_per_model_each_model_counts_the_larger_of_its_parts_and_totals() -> None:
    opus_total = replace(total("r1", output_tokens=100), model=OPUS)
    haiku_total = replace(total("r1-haiku", output_tokens=10), model=HAIKU)
    haiku_part = replace(part("m2", output_tokens=30), model=HAIKU)
    sequence = [part("m1", output_tokens=60), haiku_part, opus_total, haiku_total]
    for order in (sequence, sequence[::-1]):
        # opus: total 100 > parts 60; haiku: parts 30 > total 10
        assert total_tokens(feed(order)).output_tokens == 130
    # the total's excess is its own model's
    assert [(e.model, e.tokens.output_tokens) for e in feed(sequence)] == [
        (OPUS, 60),
        (HAIKU, 30),
        (OPUS, 40),
    ]


def test_a_total_naming_no_model_covers_every_models_parts() -> None:
    haiku_part = replace(part("m2", output_tokens=30), model=HAIKU)
    events = feed([part("m1", output_tokens=60), haiku_part, total(output_tokens=80)])
    assert total_tokens(events).output_tokens == 90
    events = feed([part("m1", output_tokens=60), haiku_part, total(output_tokens=120)])
    assert total_tokens(events).output_tokens == 120


def test_a_group_names_a_bounded_number_of_models_and_counts_the_rest_unmatched() -> None:
    # a hostile runner naming a new model per line must not grow one table value for ever
    ledger = MemoryLedger()
    parts = [
        replace(part(f"m{n}", output_tokens=10), model=f"model-{n:02d}") for n in range(MAX_MODEL_SHARES + 5)
    ]
    events = [ledger.observe(o, CTX) for o in parts]
    assert total_tokens(e for e in events if e is not None).output_tokens == 10 * len(parts)
    state = ledger.groups["group:run"]
    assert [m for m, _ in state.shares if m != "*"] == [f"model-{n:02d}" for n in range(MAX_MODEL_SHARES)]
    assert state.share("*").parts_tokens.output_tokens == 50
    assert len(state.to_json()) < 450 * (MAX_MODEL_SHARES + 1)


def test_a_version_1_group_state_reads_as_one_share_covering_the_group() -> None:
    v1 = b'{"v":1,"pt":[1,2,0,0,0,0,0],"pc":"0.1","tt":[0,9,0,0,0,0,0],"tc":"0.2"}'
    state = GroupState.from_json(v1)
    assert state.counted_tokens == TokenCounts(input_tokens=1, output_tokens=9)
    assert state.counted_cost == Decimal("0.2")
    assert GroupState.from_json(state.to_json()) == state


group_ops = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["m1", "m2", "m3"]), counts),
        st.tuples(st.sampled_from(["result", "result-2"]), counts),
    ),
    min_size=1,
    max_size=20,
)


@given(group_ops, st.randoms())
def test_group_totals_are_order_and_repeat_independent(
    ops: list[tuple[str, dict[str, int]]], rnd: random.Random
) -> None:
    observations = [
        replace(total(i) if i.startswith("result") else part(i), tokens=TokenCounts(**c)) for i, c in ops
    ]
    shuffled = observations * 2
    rnd.shuffle(shuffled)
    # each identity max-merged; the group: max(sum of parts, SUM of totals) per field
    largest: dict[str, TokenCounts] = {}
    for o in observations:
        old = largest.get(o.identity, TokenCounts())
        largest[o.identity] = TokenCounts(*(max(getattr(old, n), getattr(o.tokens, n)) for n in TOKEN_FIELDS))
    summed = sum((t for i, t in largest.items() if not i.startswith("result")), TokenCounts())
    totals = sum((t for i, t in largest.items() if i.startswith("result")), TokenCounts())
    expected = TokenCounts(*(max(getattr(summed, n), getattr(totals, n)) for n in TOKEN_FIELDS))
    assert total_tokens(feed(observations)) == total_tokens(feed(shuffled)) == expected


def test_a_group_beyond_the_counter_range_is_a_bad_line() -> None:
    huge = {n: 10**12 for n in ("input_tokens", "output_tokens")}
    ledger = MemoryLedger()
    ledger.groups["group:run"] = GroupState(
        ((OPUS, ModelShare(parts_tokens=TokenCounts(input_tokens=10**15))),)
    )
    with pytest.raises(BadLine, match="counter range"):
        ledger.observe(part("m9", **huge), CTX)


# --- event ids and the event itself -----------------------------------------------------


def test_event_ids_are_deterministic_and_unique() -> None:
    sequence = [obs(input_tokens=1), obs(input_tokens=2), part("m1", output_tokens=3), total(output_tokens=9)]
    first, second = feed(sequence), feed(sequence)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == len(first) == 4


def test_events_carry_scope_from_the_observation_and_labels_from_the_context() -> None:
    o = replace(obs(input_tokens=1), lineage=("root",), agent_id="a1", session_id="root/agent-a1")
    (event,) = feed([o])
    assert (event.session_id, event.lineage, event.agent_id, event.root_id) == (
        "root/agent-a1",
        ("root",),
        "a1",
        "root",
    )
    assert (event.source, event.runner_id, dict(event.labels)) == (
        "claude-transcript",
        "runner-1",
        {"task": "t-1"},
    )
    assert event.event_time == T0 and event.model == OPUS
    assert UsageEvent.from_json(event.to_json()) == event


def test_event_for_builds_from_observation_and_context() -> None:
    event = event_for(
        obs(),
        CTX,
        event_id="e1",
        tokens=TokenCounts(output_tokens=2),
        cost_usd=ZERO_USD,
        cost_source="unpriced",
    )
    assert (event.event_id, event.tokens.output_tokens, event.cost_source) == ("e1", 2, "unpriced")


def test_apply_is_pure_and_returns_the_states_to_store() -> None:
    step = apply(part("m1", output_tokens=4), CTX, None, None)
    share = ModelShare(parts_tokens=TokenCounts(output_tokens=4), parts_cost=step.identity_state.cost)
    # Shares are keyed by the canonical model name, however a view spells it.
    assert step.event is not None and step.group_state == GroupState(((canonical_model(OPUS), share),))
    again = apply(part("m1", output_tokens=4), CTX, step.identity_state, step.group_state)
    assert (
        again.event is None
        and again.identity_state == step.identity_state
        and again.group_state == step.group_state
    )


# --- state serialization ----------------------------------------------------------------


def test_states_round_trip_through_json_within_the_documented_size() -> None:
    big = TokenCounts(*([10**15] * 7))
    identity = IdentityState(big, Decimal("999999.999999999999"), Decimal("999999.999999999999"))
    share = ModelShare(big, Decimal("999999.999999999999"), big, Decimal("999999.999999999999"))
    group = GroupState(((OPUS, share),))
    assert IdentityState.from_json(identity.to_json()) == identity
    assert GroupState.from_json(group.to_json()) == group
    assert IdentityState.from_json(IdentityState().to_json()) == IdentityState()
    assert len(identity.to_json()) < 250
    assert len(group.to_json()) < 450


@pytest.mark.parametrize(
    "data", [b"", b"[]", b'{"t":[1],"r":null,"c":"0"}', b'{"t":[1,2,3,4,5,6,-7],"r":null,"c":"0"}']
)
def test_corrupt_state_is_a_schema_error(data: bytes) -> None:
    with pytest.raises(SchemaError):
        IdentityState.from_json(data)
    with pytest.raises(SchemaError):
        GroupState.from_json(data)


def test_a_result_and_its_messages_meet_whatever_the_model_spelling() -> None:
    """A result's modelUsage key (``...[1m]``, a dated id) and a message's model are one share."""
    message = part("m1", output_tokens=1000)
    step = apply(message, CTX, None, None)
    result = replace(
        part("result", output_tokens=1000),
        model=f"{OPUS}[1m]",
        is_group_total=True,
        identity="claude:s:result",
    )
    again = apply(result, CTX, None, step.group_state)
    assert again.event is None or again.event.tokens.output_tokens == 0


def test_a_group_states_cached_count_is_its_count_and_not_part_of_its_value() -> None:
    from schemas.ledger_groups import ANY_MODEL

    state = GroupState()
    views = [("claude-opus-4-5", False), (None, True), ("claude-haiku-4-5", False)]
    for n, (model, total) in enumerate(views):
        state = state.add(model, total=total, tokens=TokenCounts(n + 1, 2 * n, 0, 5 - n), cost=Decimal("0.1"))
    fresh = GroupState(state.shares)
    counted = state.counted_tokens
    assert counted is state.counted_tokens  # computed once
    assert counted == fresh._count_tokens() == TokenCounts(4, 4, 0, 8)  # parts beat the total
    assert state == fresh and hash(state) == hash(fresh) and state.to_json() == fresh.to_json()
    assert GroupState.from_json(state.to_json()).counted_tokens == counted
    assert dict(state.shares)[ANY_MODEL].total_tokens == TokenCounts(2, 2, 0, 4)
