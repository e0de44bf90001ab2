"""The ledger: absolute Observations in, UsageEvent deltas out. Pure, with explicit state.

Dedup key (:func:`dedup_key`): the observation's ``identity``. Each source module says
what its identity names (one API response, one session's cumulative counter, ...).

Which duplicate wins (:func:`merge`): for one identity the ledger keeps the field-wise
MAXIMUM of every token count seen and the maximum reported cost. Observing it again
emits only what grew; a duplicate, a re-published line or an older, smaller snapshot
emits nothing. Any order and any number of repeats of the same observations therefore
count the same totals, and a cumulative counter (Codex, Gemini) becomes its deltas.

Groups (:class:`~schemas.ledger_groups.GroupState`): an observation with ``group`` is
a part of that group, or, with ``is_group_total``, a report of a total that covers parts
(Claude: a run's messages and its results, schemas/sources/claude_run.py). Per model ``m``, the
group counts max(P_m, T_m) per token field and for cost, where P_m is the sum of its
parts of model ``m`` and T_m the SUM over its total identities of model ``m`` (each
identity max-merged, so a total restated or re-sent counts once and two totals, e.g. two
``--resume``d runs, add up). Totals naming no model (T_*) cover every part of the group,
whatever its model: the group counts field-wise

    max( sum_m max(P_m, T_m) + P_*,  T_* + sum_m T_m )

which is max(parts, totals) for a group whose totals name no model, and the per-model
rule for one whose totals all do. The counted quantity only grows; each observation
emits its growth, so what a total already covers is not counted again and a total above
the parts adds only its excess, attributed to the total's observation (its model).

Cost of a delta (cost modes in schemas/pricing.py): ``computed`` prices the tokens that
grew, ``price(grown, model, event time)``: exact and linear, i.e. price(new) - price(old),
at the price in force on the observation's event date (so a replay prices the same).
``reported`` uses the identity's largest reported cost minus what it already counted
(computing when nothing is reported). A counted cost never decreases: a reported cost
below an earlier computed one emits no negative correction.

State, explicit and JSON-serializable (``to_json``/``from_json``), keyed so each piece
can live under its own key in a table (:func:`identity_key`, :func:`group_key`):
- :class:`IdentityState` per identity: 7 counts, 2 amounts; under 250 bytes as JSON.
- :class:`GroupState` per group: per model (a Claude session has one to three; at most
  16 named, schemas/ledger_groups.py), 14 counts and 2 amounts, under 450 bytes as JSON.
Identities are global, not per stream: two streams reporting the same identity must
reach the same state (route by identity) for their duplicates to be dropped.

Cost split (schemas/attribution.py): every event's ``cost_usd`` is split by what it
bought, at the price in force at its event time; the parts sum to it exactly. Events name
the response the observation does (``message_id``, ``request_id``) when the source does.

Event ids: ``event_id_for(identity, state before, state after, group before)``: the
same transition always yields the same id, so replaying an input sequence from the same
state yields identical events, and different deltas never share an id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import orjson

from schemas.attribution import split_cost
from schemas.ledger_groups import GroupState, counts_from_json, field_max, minus
from schemas.money import ZERO_USD, to_usd, usd_str
from schemas.pricing import CostMode, PriceTable, default_price_table
from schemas.records import replaced
from schemas.sources.base import LineContext, Observation
from schemas.usage import (
    CostSource,
    CostSplit,
    SchemaError,
    TokenCounts,
    UsageEvent,
    event_id_for,
)

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class IdentityState:
    """What one identity has counted: max tokens, max reported cost, cost counted so far."""

    tokens: TokenCounts = field(default_factory=TokenCounts)
    reported_cost: Decimal | None = None
    cost: Decimal = ZERO_USD

    def to_json(self) -> bytes:
        reported = None if self.reported_cost is None else usd_str(self.reported_cost)
        return orjson.dumps(
            {
                "v": STATE_VERSION,
                "t": self.tokens.as_list(),
                "r": reported,
                "c": usd_str(self.cost),
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> IdentityState:
        try:
            raw = orjson.loads(data)
            reported = None if raw["r"] is None else to_usd(raw["r"])
            return cls(counts_from_json(raw["t"]), reported, to_usd(raw["c"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SchemaError(f"ledger identity state: {exc}") from exc


@dataclass(frozen=True, slots=True)
class LedgerStep:
    """One observation's outcome: at most one event, and the states to store."""

    event: UsageEvent | None
    identity_state: IdentityState
    group_state: GroupState | None


def dedup_key(obs: Observation) -> str:
    """Two observations with the same key are reports of the same usage."""
    return obs.identity


def identity_key(obs: Observation) -> str:
    """Table key of the observation's IdentityState (prefixed so groups can share a table)."""
    return f"id:{dedup_key(obs)}"


def group_key(obs: Observation) -> str | None:
    """Table key of the observation's GroupState, None when it belongs to no group."""
    return None if obs.group is None else f"group:{obs.group}"


def merge(state: IdentityState, obs: Observation) -> IdentityState:
    """The winning rule: field-wise max of tokens, max reported cost (cost unchanged)."""
    reported = state.reported_cost
    if obs.reported_cost_usd is not None:
        reported = obs.reported_cost_usd if reported is None else max(reported, obs.reported_cost_usd)
    return replaced(state, tokens=field_max(state.tokens, obs.tokens), reported_cost=reported)


def cost_growth(
    before: IdentityState,
    merged: IdentityState,
    model: str | None,
    prices: PriceTable,
    mode: CostMode,
    at: datetime,
    prompt_tokens: int | None = None,
) -> tuple[Decimal, CostSource]:
    """The cost ``merged`` adds over ``before`` under ``mode``, and where it comes from;
    computed at the price in force at ``at`` (the observation's event time) for a request
    of ``prompt_tokens`` (one API response; None: base rates). Under a long-context tier
    the identity's whole cost is its tier's price of ``merged`` less what was counted, so
    lines of one response that reach the tier in any order end at the same cost."""
    if mode != "computed" and merged.reported_cost is not None:
        return max(merged.reported_cost - before.cost, ZERO_USD), "reported"
    if mode != "reported-only":
        base, price = prices.lookup(model, at), prices.lookup(model, at, prompt_tokens)
        if price is not None and price is not base:
            return max(price.cost(merged.tokens) - before.cost, ZERO_USD), "computed"
        if base is not None:  # prices.cost of the growth, without a third lookup
            return base.cost(minus(merged.tokens, before.tokens)), "computed"
    return ZERO_USD, "unpriced"


def prompt_size(obs: Observation, tokens: TokenCounts) -> int | None:
    """The prompt of one API response (input, cache reads and writes), for its long-context
    tier; None when the observation is not one response (no ``message_id``)."""
    if obs.message_id is None:
        return None
    return (
        tokens.input_tokens
        + tokens.cache_read_tokens
        + tokens.cache_write_5m_tokens
        + tokens.cache_write_1h_tokens
    )


def event_for(
    obs: Observation,
    context: LineContext,
    *,
    event_id: str,
    tokens: TokenCounts,
    cost_usd: Decimal,
    cost_source: CostSource,
    cost_split: CostSplit | None = None,
) -> UsageEvent:
    """A UsageEvent of ``tokens``/``cost_usd`` (split as ``cost_split`` says; None: all of
    it input) for ``obs``'s scope and response, with the context's labels."""
    return UsageEvent(
        event_id=event_id,
        source=obs.source or context.source,
        runner_id=context.runner_id,
        session_id=obs.session_id,
        lineage=obs.lineage,
        agent_id=obs.agent_id,
        model=obs.model,
        event_time=obs.event_time,
        tokens=tokens,
        cost_usd=cost_usd,
        cost_source=cost_source,
        auth_mode=obs.auth_mode,
        labels=context.labels,
        source_watermark=context.stream_watermark,
        message_id=obs.message_id,
        request_id=obs.request_id,
        cost_split=cost_split or CostSplit(input=cost_usd),
    )


def apply(
    obs: Observation,
    context: LineContext,
    identity_state: IdentityState | None,
    group_state: GroupState | None = None,
    *,
    prices: PriceTable | None = None,
    mode: CostMode = "reported",
) -> LedgerStep:
    """Account one observation against its identity's (and group's) state.

    Raises SchemaError only for an observation no parser produces (e.g. an empty scope),
    BadLine when a group's sum leaves the counter range.
    """
    before = identity_state or IdentityState()
    merged = merge(before, obs)
    if merged == before:
        return LedgerStep(None, before, group_state)
    prices = prices or default_price_table()
    prompt = prompt_size(obs, merged.tokens)
    cost, source = cost_growth(before, merged, obs.model, prices, mode, obs.event_time, prompt)
    after = replaced(merged, cost=before.cost + cost)
    grown = minus(after.tokens, before.tokens)
    group_before = group_state
    if obs.group is not None:
        group_before = group_state or GroupState()
        group_state = group_before.add(obs.model, total=obs.is_group_total, tokens=grown, cost=cost)
        grown = minus(group_state.counted_tokens, group_before.counted_tokens)
        cost = group_state.counted_cost - group_before.counted_cost
    if grown.is_zero() and cost == ZERO_USD:
        return LedgerStep(None, after, group_state)
    group_print = "" if group_before is None else group_before.to_json().decode()
    event_id = event_id_for(dedup_key(obs), before.to_json().decode(), after.to_json().decode(), group_print)
    split = split_cost(grown, cost, prices.lookup(obs.model, obs.event_time, prompt))
    event = event_for(
        obs, context, event_id=event_id, tokens=grown, cost_usd=cost, cost_source=source, cost_split=split
    )
    return LedgerStep(event, after, group_state)


class MemoryLedger:
    """Dict-backed :func:`apply` for tests, demos and batch runs (same rule, same ids)."""

    def __init__(self, *, prices: PriceTable | None = None, mode: CostMode = "reported") -> None:
        self.prices = prices or default_price_table()
        self.mode: CostMode = mode
        self.identities: dict[str, IdentityState] = {}
        self.groups: dict[str, GroupState] = {}

    def observe(self, obs: Observation, context: LineContext) -> UsageEvent | None:
        gkey = group_key(obs)
        step = apply(
            obs,
            context,
            self.identities.get(identity_key(obs)),
            self.groups.get(gkey) if gkey else None,
            prices=self.prices,
            mode=self.mode,
        )
        self.identities[identity_key(obs)] = step.identity_state
        if gkey is not None and step.group_state is not None:
            self.groups[gkey] = step.group_state
        return step.event
