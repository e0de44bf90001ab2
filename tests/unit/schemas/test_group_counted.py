"""GroupState.counted_tokens: its fast paths (no share, one share) equal the rule's sums."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from schemas.ledger_groups import ANY_MODEL, GroupState, ModelShare, field_max, plus
from schemas.sources.base import BadLine
from schemas.usage import MAX_TOKENS, TOKEN_FIELDS, TokenCounts


def reference(state: GroupState) -> TokenCounts:
    """max(sum_m max(P_m, T_m) + P_*, T_* + sum_m T_m), summed share by share (ledger_groups.py)."""
    per_model, totals = TokenCounts(), TokenCounts()
    for model, share in state.shares:
        totals = plus(totals, share.total_tokens)
        if model == ANY_MODEL:
            per_model = plus(per_model, share.parts_tokens)
        else:
            per_model = plus(per_model, field_max(share.parts_tokens, share.total_tokens))
    return field_max(per_model, totals)


def counts(rng: random.Random, top: int) -> TokenCounts:
    return TokenCounts(*(rng.choice([0, 1, rng.randrange(top), top]) for _ in TOKEN_FIELDS))


def share(rng: random.Random, top: int) -> ModelShare:
    return ModelShare(counts(rng, top), Decimal(0), counts(rng, top), Decimal(0))


def test_counted_tokens_equals_the_rule_for_any_shares() -> None:
    for seed in range(300):
        rng = random.Random(seed)
        models = rng.sample(["opus", "sonnet", ANY_MODEL, "haiku"], rng.randrange(0, 4))
        top = rng.choice([10, 10**6, MAX_TOKENS // 2])
        shares = tuple(sorted((m, share(rng, top)) for m in models))
        state = GroupState(shares)
        try:
            want: TokenCounts | None = reference(state)
        except BadLine:
            want = None
        if want is None:
            with pytest.raises(BadLine):
                GroupState(shares).counted_tokens  # noqa: B018
        else:
            assert state.counted_tokens == want, (seed, shares)
