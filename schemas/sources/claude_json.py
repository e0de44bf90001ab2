"""``claude -p --output-format json``: one result object per run.

Quirks (observed in ../shared/fixtures/real/claude-json/ and public captures):
- ``usage.input_tokens`` excludes cache; ``cache_creation_input_tokens`` is split into
  ``cache_creation.ephemeral_5m/1h_input_tokens`` only on newer builds (else: all 5-minute).
- ``modelUsage`` (newer builds) gives per-model tokens and ``costUSD``: one observation
  per model. Older builds only have ``usage`` + ``total_cost_usd`` (older still: ``cost_usd``)
  and no model name.
- Error subtypes (``error_max_turns``, ``error_during_execution``) still cost money.
- Identity: ``(session_id, uuid)``; the same result seen twice is the same usage.
"""

from __future__ import annotations

from typing import Any

from schemas.money import MoneyError, to_usd
from schemas.sources.base import (
    BadLine,
    LineContext,
    Observation,
    ParseResult,
    count_field,
    load_json_object,
    text_field,
)
from schemas.usage import TokenCounts

FORMAT = "claude-json"


def _usage_tokens(usage: dict[str, Any]) -> TokenCounts:
    cache_write = count_field(usage, "cache_creation_input_tokens")
    split = usage.get("cache_creation")
    write_1h = 0
    if isinstance(split, dict):
        write_1h = count_field(split, "ephemeral_1h_input_tokens")
        write_1h = min(write_1h, cache_write) if cache_write else write_1h
    server_tools = usage.get("server_tool_use")
    searches = count_field(server_tools, "web_search_requests") if isinstance(server_tools, dict) else 0
    return TokenCounts(
        input_tokens=count_field(usage, "input_tokens"),
        output_tokens=count_field(usage, "output_tokens"),
        cache_read_tokens=count_field(usage, "cache_read_input_tokens"),
        cache_write_5m_tokens=max(cache_write - write_1h, 0),
        cache_write_1h_tokens=write_1h,
        web_search_requests=searches,
    )


def _model_usage_tokens(entry: dict[str, Any]) -> TokenCounts:
    return TokenCounts(
        input_tokens=count_field(entry, "inputTokens"),
        output_tokens=count_field(entry, "outputTokens"),
        cache_read_tokens=count_field(entry, "cacheReadInputTokens"),
        cache_write_5m_tokens=count_field(entry, "cacheCreationInputTokens"),
        web_search_requests=count_field(entry, "webSearchRequests"),
    )


def _cost(value: object, name: str) -> Any:
    try:
        return to_usd(value)
    except MoneyError as exc:
        raise BadLine(f"{name}: {exc}") from exc


def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
    obj = load_json_object(line)
    if obj.get("type") != "result":
        raise BadLine("a claude-json line is a result object (type 'result')")
    session_id = text_field(obj, "session_id", required=True)
    assert session_id is not None
    run_id = text_field(obj, "uuid") or f"{context.stream_id}@{context.position}"
    common = {
        "session_id": session_id,
        "event_time": context.published_at,
        "lineage": context.lineage,
    }
    model_usage = obj.get("modelUsage")
    if isinstance(model_usage, dict) and model_usage:
        observations = []
        for model, entry in sorted(model_usage.items()):
            if not isinstance(entry, dict) or not isinstance(model, str) or not model:
                raise BadLine("modelUsage entries must be objects keyed by model name")
            cost = entry.get("costUSD")
            observations.append(
                Observation(
                    identity=f"{FORMAT}:{session_id}:{run_id}:{model}",
                    tokens=_model_usage_tokens(entry),
                    reported_cost_usd=None if cost is None else _cost(cost, "costUSD"),
                    model=model,
                    **common,
                )
            )
        return observations, None
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        raise BadLine("result has no usage object")
    cost_value = obj.get("total_cost_usd", obj.get("cost_usd"))
    return [
        Observation(
            identity=f"{FORMAT}:{session_id}:{run_id}",
            tokens=_usage_tokens(usage),
            reported_cost_usd=None if cost_value is None else _cost(cost_value, "total_cost_usd"),
            model=text_field(obj, "model"),
            **common,
        )
    ], None
