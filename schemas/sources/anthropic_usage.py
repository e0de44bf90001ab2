"""Anthropic ``usage`` objects, shared by the three Claude Code formats.

Two shapes occur:
- the Messages API ``usage`` (``assistant`` lines of transcripts and stream-json, and the
  ``usage`` of a ``result``): ``input_tokens`` EXCLUDES cache reads and writes, which are
  ``cache_read_input_tokens`` and ``cache_creation_input_tokens``; newer builds split the
  writes into ``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``;
  ``server_tool_use.web_search_requests`` counts paid web searches;
- Claude Code's per-model ``modelUsage`` of a ``result`` (camelCase, no 5m/1h split, a
  ``costUSD`` per model).

Cache writes the source does not split by TTL count as 5-minute writes (schemas/usage.py).

A result may carry both, and they need not report the same fields: Claude Code 2.1.141
printed ``usage.cache_creation_input_tokens: 83842`` beside a ``modelUsage`` entry with
only ``inputTokens``, ``outputTokens`` and ``costUSD`` (issue 12, seed 000). Rule
(:func:`result_model_tokens`): when NO ``modelUsage`` entry has ``cacheCreationInputTokens``
(or ``cacheReadInputTokens``), that field comes from ``usage``: all of it with one model;
with several, split over the models in proportion to each entry's own reported tokens
(input + output + the cache fields it has), floor division, the remainder to the model of
the largest weight (the first by name among equals, and all of it when every weight is 0).
So the run's total of that field equals ``usage``'s exactly. A 5m/1h split in ``usage``
is kept, each part split the same way. A field any entry reports is modelUsage's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from schemas.money import split_by_weight
from schemas.sources.base import (
    BadLine,
    cost_field,
    count_field,
    make_tokens,
    object_field,
    sum_tokens,
)
from schemas.usage import TokenCounts


def usage_tokens(usage: dict[str, Any]) -> TokenCounts:
    """A Messages API ``usage`` object in spendstream's meaning."""
    cache_write = count_field(usage, "cache_creation_input_tokens")
    write_1h = 0
    split = object_field(usage, "cache_creation")
    if split is not None:
        write_5m = count_field(split, "ephemeral_5m_input_tokens")
        write_1h = count_field(split, "ephemeral_1h_input_tokens")
        # The split is the more detailed report; a total smaller than it is a stale total.
        cache_write = max(cache_write, write_5m + write_1h)
    server_tools = object_field(usage, "server_tool_use")
    searches = count_field(server_tools, "web_search_requests") if server_tools else 0
    return make_tokens(
        input_tokens=count_field(usage, "input_tokens"),
        output_tokens=count_field(usage, "output_tokens"),
        cache_read_tokens=count_field(usage, "cache_read_input_tokens"),
        cache_write_5m_tokens=cache_write - write_1h,
        cache_write_1h_tokens=write_1h,
        web_search_requests=searches,
    )


def model_usage_tokens(entry: dict[str, Any]) -> TokenCounts:
    """One ``modelUsage`` entry (all cache writes are 5-minute: no split is reported)."""
    return make_tokens(
        input_tokens=count_field(entry, "inputTokens"),
        output_tokens=count_field(entry, "outputTokens"),
        cache_read_tokens=count_field(entry, "cacheReadInputTokens"),
        cache_write_5m_tokens=count_field(entry, "cacheCreationInputTokens"),
        web_search_requests=count_field(entry, "webSearchRequests"),
    )


def model_usage_entries(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A result's ``modelUsage`` as sorted (model, entry) pairs; empty when absent."""
    model_usage = object_field(obj, "modelUsage")
    if not model_usage:
        return []
    entries = []
    for model, entry in sorted(model_usage.items()):
        if not model or len(model) > 512 or not isinstance(entry, dict):
            raise BadLine("modelUsage entries must be objects keyed by model name")
        entries.append((model, entry))
    return entries


# A modelUsage key, and the fields of ``usage`` that stand in for it when no entry has it.
_FILLED_FROM_USAGE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cacheCreationInputTokens", ("cache_write_5m_tokens", "cache_write_1h_tokens")),
    ("cacheReadInputTokens", ("cache_read_tokens",)),
)


def fill_from_usage(
    entries: Sequence[dict[str, Any]], tokens: Sequence[TokenCounts], usage: TokenCounts
) -> list[TokenCounts]:
    """``tokens`` (one per ``modelUsage`` entry) with the fields no entry reports taken from
    ``usage``, split by :func:`split_by_weight` over the entries' own totals."""
    filled = list(tokens)
    weights = [part.total for part in tokens]
    for key, names in _FILLED_FROM_USAGE:
        if any(entry.get(key) is not None for entry in entries):
            continue
        for name in names:
            shares = split_by_weight(getattr(usage, name), weights)
            filled = [replace(part, **{name: share}) for part, share in zip(filled, shares, strict=True)]
    return filled


def result_model_tokens(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any], TokenCounts]]:
    """A result's ``modelUsage`` as sorted (model, entry, tokens), the fields it lacks filled
    from ``usage`` (module doc); empty when there is no ``modelUsage``."""
    entries = model_usage_entries(obj)
    if not entries:
        return []
    tokens = [model_usage_tokens(entry) for _model, entry in entries]
    usage = object_field(obj, "usage")
    if usage is not None:
        tokens = fill_from_usage([entry for _model, entry in entries], tokens, usage_tokens(usage))
    return [(model, entry, part) for (model, entry), part in zip(entries, tokens, strict=True)]


def result_cost(obj: dict[str, Any]) -> Decimal | None:
    """A result's reported run cost: ``total_cost_usd``, on older builds ``cost_usd``."""
    cost = cost_field(obj, "total_cost_usd")
    return cost if cost is not None else cost_field(obj, "cost_usd")


def result_totals(obj: dict[str, Any]) -> tuple[TokenCounts, str | None]:
    """A result's run totals (summed over ``modelUsage`` as :func:`result_model_tokens` fills
    it, else ``usage``) and its only model.

    The model is None when the run used several models or the build does not say.
    """
    per_model = result_model_tokens(obj)
    if per_model:
        total = sum_tokens(tokens for _model, _entry, tokens in per_model)
        return total, per_model[0][0] if len(per_model) == 1 else None
    usage = object_field(obj, "usage")
    if usage is None:
        raise BadLine("result has neither modelUsage nor usage")
    return usage_tokens(usage), None
