"""Which part of a usage delta's cost paid for what: the cost split (:func:`split_cost`).

Seed 003 asks for the cost of each API response in four parts (input, output, cache read,
cache write; the writes 5-minute and 1-hour apart) that always sum EXACTLY to its cost.
The ledger splits the cost of every event it emits (``schemas/ledger.py``), so sums of
parts over any set of events are sums of costs.

Rule, for an event of ``tokens`` and ``cost`` at the ``price`` in force at its event time:

1. Weigh: the table's price of each part of the tokens (``ModelPrice.cost_split``), each
   exact at 12 places; web searches (a fee per request) weigh on input.
2. When the weights sum to ``cost`` (every computed cost) they ARE the split.
3. Otherwise (a CLI's reported cost; a stream-json result's excess over its messages; a
   ``computed`` group whose total outgrew its parts) ``cost`` is shared in proportion to
   the weights: each share rounded DOWN to the 12th place, and what rounding left (under
   5 picodollars) added to the part of the largest weight (the first of equal ones in the
   order input, output, cache read, 5-minute write, 1-hour write).
4. With nothing to weigh by (the model has no price, or the weights are all 0: no tokens
   grew, or free tokens), all of ``cost`` is input: a request's base charge.

So the parts are never negative and always sum to ``cost``; integer arithmetic in
picodollars, never a float and never a context-dependent Decimal division.
"""

from __future__ import annotations

from decimal import Decimal

from schemas.money import USD_PLACES, split_by_weight
from schemas.pricing import ModelPrice
from schemas.usage import CostSplit, TokenCounts


def _picos(amount: Decimal) -> int:
    """An amount of at most 12 places (every cost and price part is) as picodollars."""
    scaled = amount.scaleb(USD_PLACES)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {USD_PLACES} decimal places")
    return int(scaled)


def _usd(picos: int) -> Decimal:
    return Decimal(picos).scaleb(-USD_PLACES)  # exponent -12: already money's quantum


def share_exactly(amount: Decimal, weights: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
    """``amount`` in shares proportional to ``weights`` (rule 3), summing to it exactly;
    all of it to the first share when every weight is 0 (rule 4)."""
    shares = split_by_weight(_picos(amount), [_picos(weight) for weight in weights])
    return tuple(_usd(share) for share in shares)


def split_cost(tokens: TokenCounts, cost: Decimal, price: ModelPrice | None) -> CostSplit:
    """The split of ``cost``, paid for ``tokens`` at ``price`` (None: no known price)."""
    if price is None:
        return CostSplit(input=cost)
    priced = price.cost_split(tokens)
    if priced.total == cost:
        return priced
    return CostSplit(*share_exactly(cost, priced.parts()))
