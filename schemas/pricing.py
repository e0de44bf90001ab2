"""Prices are data: ``schemas/pricing.json``, bundled so pricing works offline.

The table gives USD per million tokens per model for input, output, 5-minute and 1-hour
cache writes and cache reads (and USD per 1,000 web searches), with its date and sources.
Prices have at most 6 decimal places, so a computed cost is exact at money's 12 places:
``cost = sum(tokens_f * price_f) / 1e6`` with Decimal, never a float, never rounded.

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

A user's price file (``SPENDSTREAM_PRICES_FILE``, ``parse --prices``) overrides or adds
models of the bundled table: :func:`load_price_table`. A reported cost that differs from
the table's price of the same tokens by more than 1% is counted (:func:`cost_disagrees`),
never an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import orjson

from schemas.money import to_usd
from schemas.usage import TokenCounts

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


_PRICE_FIELDS = tuple(f.name for f in fields(ModelPrice))
_REQUIRED_FIELDS = tuple(n for n in _PRICE_FIELDS if n != "web_search_per_1k")


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices by canonical model name, with aliases, the date checked and the sources."""

    models: Mapping[str, ModelPrice]
    aliases: Mapping[str, str]
    as_of: str
    sources: Mapping[str, str]

    def lookup(self, model: str | None) -> ModelPrice | None:
        """The price of ``model`` (any spelling :func:`canonical_model` accepts), or None."""
        if not model:
            return None
        name = canonical_model(model)
        return self.models.get(self.aliases.get(name, name))

    def cost(self, tokens: TokenCounts, model: str | None) -> Decimal | None:
        """The exact cost of ``tokens`` on ``model``; None when the model is not priced."""
        price = self.lookup(model)
        return None if price is None else price.cost(tokens)


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


def price_table_from_json(data: bytes) -> PriceTable:
    """Validate a price table document (the shape of ``schemas/pricing.json``)."""
    try:
        raw: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PricingError(f"price table is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), dict):
        raise PricingError("price table must be an object with a 'models' object")
    models: dict[str, ModelPrice] = {}
    for model, entry in raw["models"].items():
        if not isinstance(entry, dict) or canonical_model(model) != model:
            raise PricingError(f"{model}: an entry keyed by a canonical model name")
        missing = [n for n in _REQUIRED_FIELDS if n not in entry]
        if missing:
            raise PricingError(f"{model}: missing {', '.join(missing)}")
        models[model] = ModelPrice(**{n: _price(model, n, entry[n]) for n in _PRICE_FIELDS if n in entry})
    aliases = raw.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise PricingError("'aliases' must be an object mapping a model name to a priced model")
    for alias, target in aliases.items():
        if not isinstance(target, str) or target not in models:
            raise PricingError(f"alias {alias} points to unknown model {target}")
    return PriceTable(models, dict(aliases), str(raw.get("as_of", "")), dict(raw.get("sources") or {}))


def _bundled_bytes() -> bytes:
    return resources.files("schemas").joinpath("pricing.json").read_bytes()


@cache
def default_price_table() -> PriceTable:
    """The bundled table (``schemas/pricing.json``), loaded once."""
    return price_table_from_json(_bundled_bytes())


def load_price_table(path: Path | None) -> PriceTable:
    """The bundled table, with a user's price file (same shape as pricing.json) laid over it.

    The user's ``models`` entries replace or add whole entries (every price of a model is
    given, so a model is never priced half from each file); its ``aliases`` and ``sources``
    are added, its ``as_of`` wins. ``path`` None is the bundled table. A file that cannot be
    read or is not a valid table raises PricingError naming the file and the problem.
    """
    if path is None:
        return default_price_table()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PricingError(f"{path}: cannot read the price file ({exc.strerror or exc})") from exc
    try:
        user: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PricingError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(user, dict) or not ({"models", "aliases"} & user.keys()):
        raise PricingError(f"{path}: expected an object with 'models' and/or 'aliases' (as pricing.json)")
    for key in ("models", "aliases", "sources"):
        if key in user and not isinstance(user[key], dict):
            raise PricingError(f"{path}: '{key}' must be an object")
    bundled = orjson.loads(_bundled_bytes())
    merged = {
        **bundled,
        "as_of": user.get("as_of", bundled.get("as_of")),
        "models": {**bundled["models"], **user.get("models", {})},
        "aliases": {**bundled.get("aliases", {}), **user.get("aliases", {})},
        "sources": {**bundled.get("sources", {}), **user.get("sources", {})},
    }
    try:
        return price_table_from_json(orjson.dumps(merged))
    except PricingError as exc:
        raise PricingError(f"{path}: {exc}") from exc


def cost_disagrees(
    tokens: TokenCounts, model: str | None, reported_cost: Decimal | None, prices: PriceTable
) -> bool:
    """True when a reported cost and the table's price of the same tokens differ by more than
    1% of the larger; False when either is missing (no reported cost, unpriced model).

    Worth a counter, never an error: a CLI may price with other rates (a discount, an
    outdated table, a long-context tier the table does not model).
    """
    if reported_cost is None:
        return False
    computed = prices.cost(tokens, model)
    if computed is None:
        return False
    return abs(reported_cost - computed) * _DISAGREEMENT_DIVISOR > max(reported_cost, computed)
