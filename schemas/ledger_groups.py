"""A ledger group's state: per model, the sum of its parts and the sum of its totals.

The rule (schemas/ledger.py, "Groups"): per model ``m`` a group counts max(P_m, T_m);
totals naming no model (``ANY_MODEL``) cover every part:
``max(sum_m max(P_m, T_m) + P_*, T_* + sum_m T_m)`` per token field and for cost.

A group holds at most :data:`MAX_MODEL_SHARES` named models: no real session uses more
than a few, and a hostile runner naming a new model per line must not grow one table
value without bound. A further model's parts and totals are kept under ``ANY_MODEL``:
never double counted (its totals then cover the whole group), only no longer matched
per model, and which models got a share of their own depends on arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from schemas.money import ZERO_USD, to_usd, usd_str
from schemas.pricing import canonical_model
from schemas.records import replaced
from schemas.sources.base import BadLine
from schemas.usage import TOKEN_FIELDS, SchemaError, TokenCounts

STATE_VERSION = 1  # one share, totals max-merged (before cross-view reconciliation)
GROUP_STATE_VERSION = 2
MAX_MODEL_SHARES = 16


def field_max(a: TokenCounts, b: TokenCounts) -> TokenCounts:
    # Field by field, spelled out: the ledger does this several times per observation.
    return TokenCounts(
        max(a.input_tokens, b.input_tokens),
        max(a.output_tokens, b.output_tokens),
        max(a.reasoning_tokens, b.reasoning_tokens),
        max(a.cache_read_tokens, b.cache_read_tokens),
        max(a.cache_write_5m_tokens, b.cache_write_5m_tokens),
        max(a.cache_write_1h_tokens, b.cache_write_1h_tokens),
        max(a.web_search_requests, b.web_search_requests),
    )


def minus(a: TokenCounts, b: TokenCounts) -> TokenCounts:
    """``a - b`` field-wise, for ``a`` at least ``b`` in every field."""
    return TokenCounts(
        a.input_tokens - b.input_tokens,
        a.output_tokens - b.output_tokens,
        a.reasoning_tokens - b.reasoning_tokens,
        a.cache_read_tokens - b.cache_read_tokens,
        a.cache_write_5m_tokens - b.cache_write_5m_tokens,
        a.cache_write_1h_tokens - b.cache_write_1h_tokens,
        a.web_search_requests - b.web_search_requests,
    )


def plus(a: TokenCounts, b: TokenCounts) -> TokenCounts:
    try:
        return a + b
    except SchemaError as exc:
        raise BadLine("group usage beyond the counter range") from exc


def counts_from_json(raw: Any) -> TokenCounts:
    if not isinstance(raw, list) or len(raw) != len(TOKEN_FIELDS):
        raise SchemaError("ledger state: token counts must be a list of 7 integers")
    return TokenCounts(*raw)


NO_TOKENS = TokenCounts()  # frozen: shared

ANY_MODEL = "*"
"""The model key of a group total that names no model (and of a part that names none)."""


@dataclass(frozen=True, slots=True)
class ModelShare:
    """One model's side of a group: the sum of its parts and the sum of its totals."""

    parts_tokens: TokenCounts = field(default_factory=TokenCounts)
    parts_cost: Decimal = ZERO_USD
    total_tokens: TokenCounts = field(default_factory=TokenCounts)
    total_cost: Decimal = ZERO_USD

    def to_list(self) -> list[Any]:
        return [
            self.parts_tokens.as_list(),
            usd_str(self.parts_cost),
            self.total_tokens.as_list(),
            usd_str(self.total_cost),
        ]

    @classmethod
    def from_list(cls, raw: Any) -> ModelShare:
        if not isinstance(raw, list) or len(raw) != 4:
            raise SchemaError("ledger group state: a model share is [pt, pc, tt, tc]")
        return cls(counts_from_json(raw[0]), to_usd(raw[1]), counts_from_json(raw[2]), to_usd(raw[3]))


@dataclass(frozen=True, slots=True)
class GroupState:
    """Per model (sorted; :data:`ANY_MODEL` for what names none), parts and totals counted."""

    shares: tuple[tuple[str, ModelShare], ...] = ()
    # counted_tokens, once computed: the ledger asks it of every state twice (as the state
    # after one observation, then as the state before the next). Not part of the value.
    _counted: TokenCounts | None = field(default=None, init=False, repr=False, compare=False)

    def share(self, model: str) -> ModelShare:
        return dict(self.shares).get(model, ModelShare())

    def add(self, model: str | None, *, total: bool, tokens: TokenCounts, cost: Decimal) -> GroupState:
        """This state with ``tokens``/``cost`` added to ``model``'s parts or totals."""
        # One model, however a view spells it (``...-20250929[1m]``, a provider prefix):
        # a result's modelUsage key and its messages' model must meet in one share.
        key = canonical_model(model) if model else ANY_MODEL
        named = sum(1 for name, _ in self.shares if name != ANY_MODEL)
        if key not in dict(self.shares) and named >= MAX_MODEL_SHARES:
            key = ANY_MODEL
        old = self.share(key)
        if total:
            new = replaced(old, total_tokens=plus(old.total_tokens, tokens), total_cost=old.total_cost + cost)
        else:
            new = replaced(old, parts_tokens=plus(old.parts_tokens, tokens), parts_cost=old.parts_cost + cost)
        return GroupState(tuple(sorted({**dict(self.shares), key: new}.items())))

    @property
    def counted_tokens(self) -> TokenCounts:
        counted = self._counted
        if counted is None:
            counted = self._count_tokens()
            object.__setattr__(self, "_counted", counted)  # a cache of a frozen value
        return counted

    def _count_tokens(self) -> TokenCounts:
        shares = self.shares
        if len(shares) == 1:
            # One share, named or not: max(max(P, T), T) = max(P, T), and no sum can leave
            # the range (the loop below gives the same; this is every new scope's path).
            share = shares[0][1]
            return field_max(share.parts_tokens, share.total_tokens)
        if not shares:
            return NO_TOKENS
        per_model, totals = NO_TOKENS, NO_TOKENS
        for model, share in self.shares:
            totals = plus(totals, share.total_tokens)
            if model == ANY_MODEL:
                per_model = plus(per_model, share.parts_tokens)
            else:
                per_model = plus(per_model, field_max(share.parts_tokens, share.total_tokens))
        return field_max(per_model, totals)

    @property
    def counted_cost(self) -> Decimal:
        per_model, totals = ZERO_USD, ZERO_USD
        for model, share in self.shares:
            totals += share.total_cost
            if model == ANY_MODEL:
                per_model += share.parts_cost
            else:
                per_model += max(share.parts_cost, share.total_cost)
        return max(per_model, totals)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"v": GROUP_STATE_VERSION, "s": {model: share.to_list() for model, share in self.shares}}
        )

    @classmethod
    def from_json(cls, data: bytes) -> GroupState:
        try:
            raw = orjson.loads(data)
            if raw.get("v") == STATE_VERSION:
                # v1 (one share, totals max-merged): its parts and totals both covered the
                # whole group, which is what ANY_MODEL means.
                old = ModelShare(
                    counts_from_json(raw["pt"]),
                    to_usd(raw["pc"]),
                    counts_from_json(raw["tt"]),
                    to_usd(raw["tc"]),
                )
                return cls(((ANY_MODEL, old),))
            shares = raw["s"]
            if not isinstance(shares, dict):
                raise SchemaError("ledger group state: shares must be an object")
            return cls(tuple(sorted((str(m), ModelShare.from_list(v)) for m, v in shares.items())))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SchemaError(f"ledger group state: {exc}") from exc
