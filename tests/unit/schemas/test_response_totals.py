"""``ResponseTotals`` (per-scope sums in closed form) equals the ledger's events summed per
scope, on seeded random observation sequences; and it refuses (``not_simple``) whatever its
closed form does not cover."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from schemas.ledger import MemoryLedger
from schemas.pricing import CostMode, default_price_table
from schemas.response_totals import MAX_GROUP_MODELS, ResponseTotals, ScopeSums
from schemas.sources.base import LineContext, Observation
from schemas.sources.claude_run import message_identity, run_group
from schemas.sources.claude_transcript import PlainResponse
from schemas.unpriced import UnpricedTally
from schemas.usage import TokenCounts
from spendstream.local_parse import SessionTotals

PRICES = default_price_table()
CONTEXT = LineContext("claude-transcript", "runner-1", "parse:/f", 1, datetime(2026, 3, 14, tzinfo=UTC))
OPUS = "claude-opus-4-5-20251101"
SONNET = "claude-sonnet-4-5"  # a long-context tier above 200,000 prompt tokens
OPUS_46 = "claude-opus-4-6"  # a tier until 2026-03-12, none from 2026-03-13
UNPRICED = "house-model-1"
MODELS = (OPUS, SONNET, OPUS_46, UNPRICED)
DAYS = (date(2026, 3, 12), date(2026, 3, 13))
SESSIONS = ("s-1", "s-2", "s-3")


def observation(
    identity: str,
    scope: str,
    session: str,
    model: str | None,
    moment: datetime,
    counts: tuple[int, ...],
    *,
    message_id: str | None = "msg",
    agent: str | None = None,
) -> Observation:
    return Observation(
        identity=identity,
        session_id=scope,
        event_time=moment,
        tokens=TokenCounts(*counts),
        model=model,
        lineage=(session,) if agent else (),
        agent_id=agent,
        group=run_group(session),
        message_id=message_id,
        request_id=None if message_id is None else f"req-{message_id}",
    )


def as_plain(obs: Observation, session: str) -> PlainResponse:
    t = obs.tokens
    counts = (
        t.input_tokens,
        t.output_tokens,
        t.reasoning_tokens,
        t.cache_read_tokens,
        t.cache_write_5m_tokens,
        t.cache_write_1h_tokens,
        t.web_search_requests,
    )
    assert obs.model is not None and obs.message_id is not None
    return (
        obs.identity,
        obs.session_id,
        obs.lineage,
        obs.agent_id,
        session,
        obs.model,
        obs.message_id,
        obs.request_id,
        obs.event_time,
        counts,
    )


def response_lines(rnd: random.Random, index: int) -> list[tuple[Observation, str]]:
    """The lines of one response: its final counts, lines growing to them (repeats, smaller
    and partly smaller lines among them), all on one UTC date."""
    session = rnd.choice(SESSIONS)
    agent = rnd.choice([None, None, "a1", "a2"])
    scope = session if agent is None else f"{session}/agent-{agent}"
    model: str | None = rnd.choice([*MODELS, None]) if rnd.random() < 0.1 else rnd.choice(MODELS)
    message_id = None if rnd.random() < 0.1 else f"msg_{index}"
    identity = message_identity(session, message_id or f"line-{index}")
    day = rnd.choice(DAYS)
    prompt = rnd.choice([0, 5_000, 150_000, 199_999, 200_000, 200_001, 260_000])
    read = rnd.randint(0, prompt)
    write = rnd.randint(0, prompt - read)
    write_1h = rnd.randint(0, write) if rnd.random() < 0.3 else 0
    final = [
        prompt - read - write,
        rnd.choice([0, 1, rnd.randint(1, 40_000), 10**9]),
        0,
        read,
        write - write_1h,
        write_1h,
        rnd.choice([0, 0, 0, 1, 3]),
    ]
    lines: list[tuple[int, ...]] = []
    for step in range(rnd.randint(1, 5)):
        counts = list(final)
        if step < 4:
            counts[1] = final[1] * step // 4
        if rnd.random() < 0.2:  # an earlier line reporting smaller cache counts
            counts[3] = counts[3] // 2
        lines.append(tuple(counts))
    lines.append(tuple(final))
    lines.extend(rnd.sample(lines, min(len(lines), rnd.randint(0, 2))))  # repeats
    if rnd.random() < 0.1:
        lines = [tuple([0] * 7), *lines]
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    out = []
    for counts in lines:
        moment = midnight + timedelta(seconds=rnd.randint(0, 86_399), microseconds=rnd.randint(0, 999_999))
        obs = observation(identity, scope, session, model, moment, counts, message_id=message_id, agent=agent)
        out.append((obs, session))
    return out


def random_batch(seed: int) -> list[tuple[Observation, str]]:
    rnd = random.Random(seed)
    pairs = [pair for index in range(rnd.randint(1, 40)) for pair in response_lines(rnd, index)]
    rnd.shuffle(pairs)
    return pairs


def ledger_sums(
    observations: list[Observation], mode: CostMode
) -> tuple[dict[str, SessionTotals], UnpricedTally]:
    ledger = MemoryLedger(prices=PRICES, mode=mode)
    sessions: dict[str, SessionTotals] = {}
    unpriced = UnpricedTally()
    for obs in observations:
        event = ledger.observe(obs, CONTEXT)
        if event is not None:
            sessions.setdefault(event.session_id, SessionTotals(event.session_id)).add(event)
            unpriced.add(event)
    return sessions, unpriced


def fast_sums(
    pairs: list[tuple[Observation, str]], mode: CostMode, rnd: random.Random
) -> tuple[ResponseTotals, dict[str, ScopeSums], UnpricedTally]:
    totals = ResponseTotals()
    for obs, session in pairs:
        if obs.model is not None and obs.message_id is not None and rnd.random() < 0.5:
            totals.add_plain(as_plain(obs, session))
        else:
            # As the worker's classification settles it when nothing names the billing.
            totals.add_observation(replace(obs, auth_mode="unknown") if rnd.random() < 0.5 else obs)
    scopes, counter = totals.finish(PRICES, mode)
    unpriced = UnpricedTally()
    for model, events in counter.items():
        unpriced.add_model(model, events)
    return totals, scopes, unpriced


def assert_same(scopes: dict[str, ScopeSums], sessions: dict[str, SessionTotals], seed: int) -> None:
    assert set(scopes) == set(sessions), f"seed={seed}"
    for scope_id, want in sessions.items():
        got = scopes[scope_id]
        assert got.tokens == want.tokens, f"seed={seed} scope={scope_id}"
        assert got.cost == want.cost_usd, f"seed={seed} scope={scope_id}"
        assert got.events == want.events, f"seed={seed} scope={scope_id}"
        assert got.models == want.models, f"seed={seed} scope={scope_id}"
        assert got.cost_sources == want.cost_sources, f"seed={seed} scope={scope_id}"
        assert (got.first, got.last) == (want.first_event_time, want.last_event_time), f"seed={seed}"
        assert got.lineage == want.lineage, f"seed={seed} scope={scope_id}"


@pytest.mark.parametrize("mode", ["reported", "computed"])
@pytest.mark.parametrize("seed", range(60))
def test_random_batches_sum_as_the_ledger(seed: int, mode: CostMode) -> None:
    pairs = random_batch(seed)
    totals, scopes, unpriced = fast_sums(pairs, mode, random.Random(seed))
    assert totals.not_simple is None, f"seed={seed}"
    sessions, ledger_unpriced = ledger_sums([obs for obs, _ in pairs], mode)
    assert_same(scopes, sessions, seed)
    assert unpriced.counts == ledger_unpriced.counts, f"seed={seed}"


def test_the_random_batches_cover_what_they_are_for() -> None:
    pairs = [pair for seed in range(60) for pair in random_batch(seed)]
    observations = [obs for obs, _ in pairs]
    assert {o.model for o in observations} == {*MODELS, None}
    assert {o.event_time.date() for o in observations} == set(DAYS)
    assert any(o.tokens.total > 200_000 and o.model == SONNET for o in observations)
    assert any(o.agent_id for o in observations) and any(o.message_id is None for o in observations)
    sessions, _ = ledger_sums(observations, "computed")
    assert {"computed", "unpriced"} <= {s for t in sessions.values() for s in t.cost_sources}


def test_a_long_context_response_is_priced_on_its_final_counts() -> None:
    moment = datetime(2026, 3, 12, 9, tzinfo=UTC)
    lines = [
        observation("claude:s-1:m", "s-1", "s-1", SONNET, moment, (100_000, 10, 0, 90_000, 0, 0, 0)),
        observation("claude:s-1:m", "s-1", "s-1", SONNET, moment, (110_000, 1_000, 0, 100_000, 0, 0, 0)),
    ]
    totals = ResponseTotals()
    for obs in lines:
        totals.add_observation(obs)
    scopes, _ = totals.finish(PRICES, "computed")
    # 110,000 input at $6, 100,000 cache reads at $0.60, 1,000 output at $22.50 per million
    assert scopes["s-1"].cost == Decimal("0.7425")
    assert scopes["s-1"].events == 2
    sessions, _ = ledger_sums(lines, "computed")
    assert sessions["s-1"].cost_usd == Decimal("0.7425")


# --- what the closed form refuses ---------------------------------------------------------

MOMENT = datetime(2026, 3, 12, 9, tzinfo=UTC)
BASE = observation("claude:s-1:m", "s-1", "s-1", OPUS, MOMENT, (1, 2, 0, 3, 4, 0, 0))


def refused(*observations: Observation, mode: CostMode = "computed") -> str | None:
    totals = ResponseTotals()
    for obs in observations:
        totals.add_observation(obs)
    checked = ResponseTotals()
    checked.responses, checked.not_simple = dict(totals.responses), totals.not_simple
    checked.check(PRICES, mode)
    scopes, _ = totals.finish(PRICES, mode)
    if totals.not_simple is not None:
        assert scopes == {}
    assert checked.not_simple == totals.not_simple  # check() answers as finish() does
    return totals.not_simple


def test_a_plain_batch_is_not_refused() -> None:
    assert refused(BASE, replace(BASE, tokens=TokenCounts(output_tokens=9))) is None
    assert refused(BASE, replace(BASE, auth_mode="unknown")) is None


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        (replace(BASE, reported_cost_usd=Decimal("0.01")), "a reported cost or run total"),
        (replace(BASE, is_group_total=True), "a reported cost or run total"),
        (replace(BASE, auth_mode="api"), "an observation naming its source or billing"),
        (replace(BASE, source="claude-json"), "an observation naming its source or billing"),
        (replace(BASE, model=SONNET), "one response seen with different scopes, models, ids or dates"),
        (
            replace(BASE, event_time=MOMENT + timedelta(days=1)),
            "one response seen with different scopes, models, ids or dates",
        ),
        (
            replace(BASE, session_id="s-1/agent-a"),
            "one response seen with different scopes, models, ids or dates",
        ),
        (replace(BASE, request_id="req-2"), "one response seen with different scopes, models, ids or dates"),
    ],
)
def test_what_the_closed_form_does_not_cover_is_refused(changed: Observation, reason: str) -> None:
    assert refused(BASE, changed) == reason
    assert refused(changed, BASE) == reason


def test_reported_only_mode_is_refused() -> None:
    assert refused(BASE, mode="reported-only") == "cost mode reported-only"


def test_a_group_beyond_the_bounds_is_refused() -> None:
    many = [
        replace(BASE, identity=f"claude:s-1:m{i}", model=f"model-{i}") for i in range(MAX_GROUP_MODELS + 1)
    ]
    assert refused(*many[:MAX_GROUP_MODELS]) is None
    assert refused(*many) == "a group beyond the fast rule's bounds"
    huge = TokenCounts(input_tokens=10**12)
    lines = [replace(BASE, identity=f"claude:s-1:h{i}", tokens=huge) for i in range(101)]
    assert refused(*lines[:100]) is None
    assert refused(*lines) == "a group beyond the fast rule's bounds"


def test_an_event_time_with_an_offset_is_priced_on_its_utc_date() -> None:
    # 00:30 at +05:00 on 2026-03-13 is 19:30 UTC on 2026-03-12, when claude-opus-4-6 had a tier.
    local = datetime(2026, 3, 13, 0, 30, tzinfo=timezone(timedelta(hours=5)))
    first = observation("claude:s-1:m", "s-1", "s-1", OPUS_46, local, (150_000, 1_000, 0, 100_000, 0, 0, 0))
    later = replace(
        first, event_time=local.astimezone(UTC), tokens=replace(first.tokens, output_tokens=2_000)
    )
    totals = ResponseTotals()
    totals.add_observation(first)
    totals.add_observation(later)
    scopes, _ = totals.finish(PRICES, "computed")
    assert totals.not_simple is None
    sessions, _ = ledger_sums([first, later], "computed")
    # 150,000 input at $10, 100,000 cache reads at $1, 2,000 output at $37.50 per million
    assert scopes["s-1"].cost == sessions["s-1"].cost_usd == Decimal("1.675")


@pytest.mark.parametrize("seed", range(60))
def test_check_refuses_exactly_what_finish_refuses(seed: int) -> None:
    pairs = random_batch(seed)
    rnd = random.Random(seed)
    # Some batches through a price table whose rates have more digits than deltas keep.
    prices = PRICES
    if rnd.random() < 0.5:
        price = PRICES.lookup(OPUS)
        assert price is not None
        odd = replace(price, output=price.output + Decimal("0.0000001"))
        history = PRICES.history(OPUS)
        assert history is not None
        periods = tuple(replace(p, price=odd) for p in history.periods)
        models = {**PRICES.models, "claude-opus-4-5": replace(history, periods=periods)}
        prices = replace(PRICES, models=models)
    for mode in ("reported", "computed", "reported-only"):
        finished, checked = ResponseTotals(), ResponseTotals()
        for obs, _ in pairs:
            finished.add_observation(obs)
            checked.add_observation(obs)
        finished.finish(prices, mode)
        checked.check(prices, mode)
        assert checked.not_simple == finished.not_simple, f"seed={seed} mode={mode}"
        if prices is not PRICES and mode != "reported-only" and any(o.model == OPUS for o, _ in pairs):
            assert finished.not_simple is not None, f"seed={seed}: the odd price was not refused"
