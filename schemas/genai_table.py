"""The bundled price data: pydantic's ``genai-prices`` snapshot, read into our price shape.

genai-prices ships its data as a Python module in the wheel (``genai_prices.data``);
reading it opens no connection (its optional ``UpdatePrices`` refresher, which would, is
never started here). What we take from it, per model of the providers whose CLIs we read
(Anthropic, OpenAI, Google):

- every dated price (``StartDateConstraint``: a price is in force from that UTC date on;
  the first one has no date and applies before every later one), so an event is priced
  at the price in force at its event time;
- input, output, cache read, 5-minute and 1-hour cache write, web search prices. A model
  without a cache-write price (OpenAI, Google bill none) prices an unexpected write as
  input; a model without a 1-hour write price prices it as a 5-minute write; without a
  cache-read price, as input;
- long-context tiers, applied to one API response whose prompt exceeds them (see
  ``PricePeriod.tiers`` in schemas/pricing.py);
- each model from the provider that makes it (Claude on Vertex AI, listed under google,
  is left to anthropic);
- the names a model answers to: its id and the exact names of its match rules
  (``equals`` and ``starts_with`` values taken as whole names), never its prefix, regex or
  substring rules, so a look-alike model stays unpriced instead of being priced as another.

Its own price arithmetic (``calc_price``) is not used: it infers missing counts, matches
models by prefix and falls back across providers; ours is the explicit sum of
:meth:`schemas.pricing.ModelPrice.cost`, exact at 12 places (every price in the snapshot
has at most 6 decimal places, checked on load).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from importlib.metadata import version

from genai_prices import data_snapshot, types

from schemas.pricing import ModelPrice, ModelPrices, PricePeriod, PriceTier, canonical_model

PROVIDERS = ("anthropic", "openai", "google")
_ZERO = Decimal(0)


def source_name() -> str:
    """``genai-prices 0.2.3``: the package and version whose snapshot priced a model."""
    return f"genai-prices {version('genai-prices')}"


def _base(value: Decimal | types.TieredPrices | None) -> Decimal | None:
    return value.base if isinstance(value, types.TieredPrices) else value


def _at_tier(value: Decimal | types.TieredPrices | None, above: int | None) -> Decimal | None:
    """The rate of ``value`` for a prompt of more than ``above`` tokens (None: the base rate)."""
    if not isinstance(value, types.TieredPrices):
        return value
    rate = value.base
    for tier in value.tiers:
        if above is not None and above >= tier.start:
            rate = tier.price
    return rate


def _model_price(prices: types.ModelPrice, above: int | None = None) -> ModelPrice | None:
    """Our ModelPrice of one genai price set (at a tier), None when it prices no tokens."""
    input_ = _at_tier(prices.input_mtok, above)
    output = _at_tier(prices.output_mtok, above)
    if input_ is None or output is None:
        return None
    write_5m = _at_tier(prices.cache_write_mtok, above)
    write_5m = input_ if write_5m is None else write_5m
    write_1h = _at_tier(prices.cache_write_1h_mtok, above)
    read = _at_tier(prices.cache_read_mtok, above)
    searches = _base(prices.web_searches_kcount)
    return ModelPrice(
        input=input_,
        output=output,
        cache_write_5m=write_5m,
        cache_write_1h=write_5m if write_1h is None else write_1h,
        cache_read=input_ if read is None else read,
        web_search_per_1k=_ZERO if searches is None else searches,
    )


def _tiers(prices: types.ModelPrice) -> tuple[PriceTier, ...]:
    starts = sorted(
        {
            tier.start
            for value in prices.__dict__.values()
            if isinstance(value, types.TieredPrices)
            for tier in value.tiers
        }
    )
    tiers = []
    for start in starts:
        price = _model_price(prices, start)
        if price is not None:
            tiers.append(PriceTier(above=start, price=price))
    return tuple(tiers)


def _periods(model: types.ModelInfo) -> tuple[PricePeriod, ...] | None:
    if isinstance(model.prices, types.ModelPrice):
        dated: list[tuple[types.StartDateConstraint | None, types.ModelPrice]] = [(None, model.prices)]
    else:
        dated = []
        for conditional in model.prices:
            constraint = conditional.constraint
            if constraint is not None and not isinstance(constraint, types.StartDateConstraint):
                return None  # time-of-day prices: not a model a coding CLI uses; left unpriced
            dated.append((constraint, conditional.prices))
    periods = []
    for constraint, prices in dated:
        price = _model_price(prices)
        if price is None:
            return None
        since = None if constraint is None else constraint.start_date
        periods.append(PricePeriod(since=since, price=price, tiers=_tiers(prices)))
    # genai-prices tries its prices last to first; sorting by date gives the same winner.
    return tuple(sorted(periods, key=lambda p: (p.since is not None, p.since)))


def _names(match: types.MatchLogic) -> Iterator[str]:
    """The whole names a match rule spells out (``equals``, ``starts_with``, through ``or``)."""
    if isinstance(match, types.ClauseEquals):
        yield match.equals
    elif isinstance(match, types.ClauseStartsWith):
        yield match.starts_with
    elif isinstance(match, types.ClauseOr):
        for clause in match.or_:
            yield from _names(clause)


def genai_models() -> tuple[dict[str, ModelPrices], dict[str, str]]:
    """Models of the bundled snapshot by canonical name, and aliases (name -> model)."""
    source = source_name()
    providers = {p.id: p for p in data_snapshot.get_snapshot().providers}
    models: dict[str, ModelPrices] = {}
    aliases: dict[str, str] = {}
    for provider_id in PROVIDERS:
        others = [providers[p].model_match for p in PROVIDERS if p != provider_id]
        for info in providers[provider_id].models:
            name = canonical_model(info.id)
            if any(match is not None and match.is_match(info.id) for match in others):
                continue  # Claude on Vertex (google): priced by its maker, anthropic
            periods = _periods(info)
            if periods is None or name in models:
                continue
            models[name] = ModelPrices(name, periods, f"{source} ({provider_id})")
            for alias in _names(info.match):
                aliases.setdefault(canonical_model(alias), name)
    return models, {a: m for a, m in aliases.items() if a not in models}
