"""Prices are data, bundled so pricing works offline, and dated: an event is priced at the
price in force at its event time.

Where prices come from, in order of precedence:
1. a user's price file (``SPENDSTREAM_PRICES_FILE``, ``parse --prices``): :func:`load_price_table`;
2. ``schemas/pricing.json``: only models the snapshot below lacks, each naming its source;
3. pydantic's ``genai-prices`` snapshot, shipped in its wheel (schemas/genai_table.py):
   dated prices, 5-minute and 1-hour cache writes, long-context tiers.
2 and 3 are built into one table once and cached on disk as data (schemas/price_cache.py),
so a process that finds the cache does not import genai-prices.

A model's prices are a history (:class:`ModelPrices`): periods, each in force from its
``since`` UTC date (the first has none) until the next one starts. Each period gives USD
per million tokens for input, output, 5-minute and 1-hour cache writes and cache reads
(and USD per 1,000 web searches). Prices have at most 6 decimal places, so a computed cost
is exact at money's 12 places: ``cost = sum(tokens_f * price_f) / 1e6`` with Decimal,
never a float, never rounded.

Model names are matched after :func:`canonical_model` removes what does not change the
price (case, provider prefixes, date and version suffixes, the ``[1m]`` context marker),
then through the table's aliases. There is no prefix or fuzzy matching: an unknown model
is unpriced, never priced as a look-alike.

Cost modes (how the ledger picks an event's cost; cf. ccusage's auto/calculate/display):
- ``reported``: the CLI's reported cost where the source reports one, else computed from
  the table, else unpriced. The default: a CLI's own figure wins when there is one.
- ``computed``: always computed from tokens and the table (reported costs are ignored),
  so every source is priced the same way; unpriced when the model is unknown.
- ``reported-only``: only reported costs; everything else is unpriced (cost 0).

A reported cost that differs from the table's price of the same tokens by more than 1% is
counted (:func:`cost_disagrees`), never an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import orjson

from schemas.money import to_usd
from schemas.usage import CostSplit, TokenCounts

CostMode = Literal["reported", "computed", "reported-only"]
COST_MODES: tuple[str, ...] = ("reported", "computed", "reported-only")

_PER_MILLION = Decimal(1_000_000)
_PER_THOUSAND = Decimal(1_000)
# A reported and a computed cost "disagree" when they differ by more than 1/100 of the larger.
_DISAGREEMENT_DIVISOR = 100
_MAX_PRICE_PLACES = 6
_PREFIXES = re.compile(r"^(?:(?:us|eu|apac|global)\.)?(?:anthropic[./]|openai/|google/|models/|gemini/)")
_SUFFIXES = (
    re.compile(r"\[1m\]$"),
    re.compile(r"-v\d+(?::\d+)?$"),  # Bedrock: claude-sonnet-4-5-20250929-v1:0
    re.compile(r"[-@]\d{8}$"),  # Anthropic / Vertex dates: -20251101, @20251101
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # OpenAI snapshots: gpt-5-2025-08-07
)


class PricingError(ValueError):
    """The price table is malformed (names the model and field)."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens of one model (``web_search_per_1k``: per 1,000 searches)."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    web_search_per_1k: Decimal = Decimal(0)

    def cost(self, tokens: TokenCounts) -> Decimal:
        """The exact USD cost of ``tokens``; reasoning is part of output, priced once."""
        per_million = (
            tokens.input_tokens * self.input
            + tokens.output_tokens * self.output
            + tokens.cache_write_5m_tokens * self.cache_write_5m
            + tokens.cache_write_1h_tokens * self.cache_write_1h
            + tokens.cache_read_tokens * self.cache_read
        )
        searches = tokens.web_search_requests * self.web_search_per_1k / _PER_THOUSAND
        return to_usd(per_million / _PER_MILLION + searches)

    def cost_split(self, tokens: TokenCounts) -> CostSplit:
        """:meth:`cost` by token type, each part exact, so they sum to it exactly; web
        searches (a fee per request, no token type) are part of input."""
        searches = tokens.web_search_requests * self.web_search_per_1k / _PER_THOUSAND
        return CostSplit(
            input=to_usd(tokens.input_tokens * self.input / _PER_MILLION + searches),
            output=to_usd(tokens.output_tokens * self.output / _PER_MILLION),
            cache_read=to_usd(tokens.cache_read_tokens * self.cache_read / _PER_MILLION),
            cache_write_5m=to_usd(tokens.cache_write_5m_tokens * self.cache_write_5m / _PER_MILLION),
            cache_write_1h=to_usd(tokens.cache_write_1h_tokens * self.cache_write_1h / _PER_MILLION),
        )


_PRICE_FIELDS = tuple(f.name for f in fields(ModelPrice))
_REQUIRED_FIELDS = tuple(n for n in _PRICE_FIELDS if n != "web_search_per_1k")


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Long-context rates: a request whose prompt exceeds ``above`` tokens pays these for
    every token of it (the "cliff" model of Anthropic, OpenAI and Google)."""

    above: int
    price: ModelPrice


@dataclass(frozen=True, slots=True)
class PricePeriod:
    """The prices in force from ``since`` (a UTC date; None: from the first listed price).

    ``tiers`` apply to one API response (an identity with a ``message_id``: transcripts,
    stream-json), whose prompt size is known: its input plus cache reads and writes
    (:meth:`price_for`). An identity that sums several requests (a ``claude -p`` result, a
    Codex or Gemini session counter) cannot say how large each request was: it is priced at
    base rates; a CLI's reported cost (the default mode) has the tier in it, and
    ``cost_disagrees`` counts where they differ.
    """

    since: date | None
    price: ModelPrice
    tiers: tuple[PriceTier, ...] = ()

    def price_for(self, prompt_tokens: int | None) -> ModelPrice:
        """The rates of a request with ``prompt_tokens`` (None: unknown, base rates): those of
        the highest tier whose ``above`` it exceeds, else the base rates."""
        chosen = self.price
        if prompt_tokens is not None:
            for tier in sorted(self.tiers, key=lambda t: t.above):
                if prompt_tokens > tier.above:
                    chosen = tier.price
        return chosen


@dataclass(frozen=True, slots=True)
class ModelPrices:
    """One model's price history, its periods ordered by ``since``, and where it comes from."""

    name: str
    periods: tuple[PricePeriod, ...]
    source: str

    def period_at(self, at: datetime | date | None = None) -> PricePeriod:
        """The period in force at ``at`` (its UTC date; a naive datetime is UTC); the latest
        listed period when ``at`` is None. Before the first dated period: the first one."""
        if at is None:
            return self.periods[-1]
        day = _utc_date(at)
        chosen = self.periods[0]
        for period in self.periods:
            if period.since is None or period.since <= day:
                chosen = period
        return chosen


def _utc_date(at: datetime | date) -> date:
    if isinstance(at, datetime):
        return (at.astimezone(UTC) if at.tzinfo is not None else at).date()
    return at


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Price histories by canonical model name, with aliases, the table's date and sources."""

    models: Mapping[str, ModelPrices]
    aliases: Mapping[str, str]
    as_of: str
    sources: Mapping[str, str]

    def history(self, model: str | None) -> ModelPrices | None:
        """The price history of ``model`` (any spelling :func:`canonical_model` accepts), or None."""
        if not model:
            return None
        name = canonical_model(model)
        found = self.models.get(name)
        if found is None and name in self.aliases:
            found = self.models.get(self.aliases[name])
        return found

    def lookup(
        self, model: str | None, at: datetime | date | None = None, prompt_tokens: int | None = None
    ) -> ModelPrice | None:
        """The price of ``model`` in force at ``at`` (None: the latest listed) for one request
        of ``prompt_tokens`` (None: base rates, see :meth:`PricePeriod.price_for`), or None."""
        history = self.history(model)
        return None if history is None else history.period_at(at).price_for(prompt_tokens)

    def cost(
        self, tokens: TokenCounts, model: str | None, at: datetime | date | None = None
    ) -> Decimal | None:
        """The exact cost of ``tokens`` on ``model`` at ``at``; None when the model is not priced."""
        price = self.lookup(model, at)
        return None if price is None else price.cost(tokens)


# A worker sees a few model names many times: each is normalized once (a ledger step looks
# its price up four times; the regexes were 7 % of the ledger stage). Bounded: names come
# from input lines.
@lru_cache(maxsize=4096)
def canonical_model(model: str) -> str:
    """``claude-opus-4-5-20251101`` -> ``claude-opus-4-5``; ``openai/GPT-5`` -> ``gpt-5``."""
    name = _PREFIXES.sub("", model.strip().lower())
    for suffix in _SUFFIXES:
        name = suffix.sub("", name)
    return name


def _price(model: str, name: str, value: object) -> Decimal:
    try:
        amount = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise PricingError(f"{model}.{name} must be a non-negative decimal string")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > _MAX_PRICE_PLACES:
        raise PricingError(f"{model}.{name} has more than {_MAX_PRICE_PLACES} decimal places")
    return amount


def _json_model(model: str, entry: object, sources: Mapping[str, str], origin: str) -> ModelPrices:
    """One ``models`` entry of a price file: one price in force at all times."""
    if not isinstance(entry, dict) or canonical_model(model) != model:
        raise PricingError(f"{model}: an entry keyed by a canonical model name")
    missing = [n for n in _REQUIRED_FIELDS if n not in entry]
    if missing:
        raise PricingError(f"{model}: missing {', '.join(missing)}")
    price = ModelPrice(**{n: _price(model, n, entry[n]) for n in _PRICE_FIELDS if n in entry})
    source = entry.get("source") or sources.get(str(entry.get("provider")))
    return ModelPrices(model, (PricePeriod(None, price),), f"{origin}: {source}" if source else origin)


def _layer(base: PriceTable, raw: Mapping[str, Any], origin: str) -> PriceTable:
    """``base`` with a price document laid over it: its models replace or add whole models
    (every price of a model is given, so none is priced half from each), its aliases and
    sources are added, its ``as_of`` wins."""
    sources = {**base.sources, **(raw.get("sources") or {})}
    models = dict(base.models)
    for model, entry in (raw.get("models") or {}).items():
        models[model] = _json_model(model, entry, raw.get("sources") or {}, origin)
    aliases = {**base.aliases, **(raw.get("aliases") or {})}
    for alias, target in aliases.items():
        if not isinstance(target, str) or target not in models:
            raise PricingError(f"alias {alias} points to unknown model {target}")
    return PriceTable(models, aliases, str(raw.get("as_of") or base.as_of), sources)


def _document(data: bytes, where: str) -> dict[str, Any]:
    try:
        raw: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PricingError(f"{where}not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise PricingError(f"{where}must be an object: expected an object with 'models' and/or 'aliases'")
    for key in ("models", "aliases", "sources"):
        if key in raw and not isinstance(raw[key], dict):
            raise PricingError(f"{where}'{key}' must be an object")
    return raw


_EMPTY = PriceTable({}, {}, "", {})


def price_table_from_json(data: bytes, origin: str = "price file") -> PriceTable:
    """A table of only this document (the shape of ``schemas/pricing.json``), validated."""
    raw = _document(data, "price table: ")
    if not isinstance(raw.get("models"), dict):
        raise PricingError("price table must be an object with a 'models' object")
    return _layer(_EMPTY, raw, origin)


def _bundled_bytes() -> bytes:
    return resources.files("schemas").joinpath("pricing.json").read_bytes()


@cache
def default_price_table() -> PriceTable:
    """The genai-prices snapshot with ``schemas/pricing.json`` over it, loaded once: from
    the on-disk cache of the built table when it holds one of the same inputs
    (schemas/price_cache.py), else built and cached."""
    from schemas.price_cache import load_or_build  # imports pricing: not at top

    return load_or_build(_bundled_bytes(), _build_default_table)


def _build_default_table(pricing_json: bytes) -> PriceTable:
    from schemas.genai_table import genai_models, source_name  # imports pricing: not at top

    models, aliases = genai_models()
    snapshot = PriceTable(models, aliases, source_name(), {"genai-prices": source_name()})
    overrides = _document(pricing_json, "schemas/pricing.json: ")
    table = _layer(snapshot, overrides, "schemas/pricing.json")
    return replace(table, as_of=f"{source_name()}; schemas/pricing.json of {overrides.get('as_of')}")


def load_price_table(path: Path | None) -> PriceTable:
    """The bundled table, with a user's price file (same shape as pricing.json) laid over it.

    The user's ``models`` entries replace or add whole models (one price at all times), its
    ``aliases`` and ``sources`` are added, its ``as_of`` wins. ``path`` None is the bundled
    table. A file that cannot be read or is not a valid table raises PricingError naming
    the file and the problem.
    """
    if path is None:
        return default_price_table()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PricingError(f"{path}: cannot read the price file ({exc.strerror or exc})") from exc
    user = _document(data, f"{path}: ")
    if not ({"models", "aliases"} & user.keys()):
        raise PricingError(f"{path}: expected an object with 'models' and/or 'aliases' (as pricing.json)")
    try:
        return _layer(default_price_table(), user, str(path))
    except PricingError as exc:
        raise PricingError(f"{path}: {exc}") from exc


def cost_disagrees(
    tokens: TokenCounts,
    model: str | None,
    reported_cost: Decimal | None,
    prices: PriceTable,
    at: datetime | date | None = None,
) -> bool:
    """True when a reported cost and the table's price of the same tokens differ by more than
    1% of the larger (the table's price at ``at``, the event time); False when either is
    missing (no reported cost, unpriced model).

    Worth a counter, never an error: a CLI may price with other rates (a discount, an
    outdated table, a long-context tier the table does not model).
    """
    if reported_cost is None:
        return False
    computed = prices.cost(tokens, model, at)
    if computed is None:
        return False
    return abs(reported_cost - computed) * _DISAGREEMENT_DIVISOR > max(reported_cost, computed)
