"""``gemini -p ... --output-format json``: one JSON document per run.

Quirks (from the gemini-cli source, google-gemini/gemini-cli
``packages/core/src/output/json-formatter.ts``, ``.../telemetry/uiTelemetry.ts`` and
``docs/cli/headless.md``; fixture shapes in tests/fixtures/gemini/):
- The document is pretty-printed over many lines (``JSON.stringify(output, null, 2)``):
  the producer must publish the whole stdout as ONE record, not line by line.
- ``{"session_id"?, "response"?, "stats"?, "error"?}``; an error-only document has no
  ``stats`` and no usage. ``session_id`` appears on newer builds only.
- ``stats.models.<model>.tokens``: ``prompt`` (Gemini's promptTokenCount) INCLUDES
  ``cached``; ``candidates`` is output without thinking; ``thoughts`` is thinking, billed
  as output; ``tool`` is toolUsePromptTokenCount, billed as input; newer builds add
  ``input`` = prompt - cached. ``total`` = prompt + candidates + thoughts + tool, checked:
  a document whose total disagrees is refused rather than guessed at. So
  input = prompt - cached + tool, cache_read = cached, output = candidates + thoughts,
  reasoning = thoughts. No cache writes are reported.
- ``stats.models.<model>.roles`` is a breakdown of the same tokens: ignored.
- Stats are per session and cumulative: a resumed session's stats are hydrated from its
  history (``UiTelemetryService.hydrate``). Identity: ``(session_id, model)`` observed
  absolutely, so a resumed run yields only its growth; without ``session_id`` the record
  itself is the identity ``(stream, position, model)``.
- No response id: stats are per session and model, summed over its responses.
- No cost and no timestamp: cost is computed, the event time is the producer's.
"""

from __future__ import annotations

from typing import Any

from schemas.sources.base import (
    BadLine,
    LineContext,
    Observation,
    ParseResult,
    count_field,
    fallback_scope,
    load_json_object,
    make_tokens,
    object_field,
    scope_lineage,
    text_field,
)
from schemas.usage import TokenCounts

FORMAT = "gemini-json"


def model_tokens(tokens: dict[str, Any]) -> TokenCounts:
    """One model's ``tokens`` object in spendstream's meaning (see module doc)."""
    prompt = count_field(tokens, "prompt")
    cached = count_field(tokens, "cached")
    candidates = count_field(tokens, "candidates")
    thoughts = count_field(tokens, "thoughts")
    tool = count_field(tokens, "tool")
    if cached > prompt:
        raise BadLine("cached exceeds prompt")
    total = tokens.get("total")
    if total is not None and count_field(tokens, "total") != prompt + candidates + thoughts + tool:
        raise BadLine("total is not prompt + candidates + thoughts + tool")
    return make_tokens(
        input_tokens=prompt - cached + tool,
        cache_read_tokens=cached,
        output_tokens=candidates + thoughts,
        reasoning_tokens=thoughts,
    )


def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
    obj = load_json_object(line)
    stats = object_field(obj, "stats")
    models = object_field(stats, "models") if stats is not None else None
    if not models:
        return [], None
    session_id = text_field(obj, "session_id")
    run = session_id or f"{context.stream_id}@{context.position}"
    scope = session_id or fallback_scope(context)
    observations = []
    for model, metrics in sorted(models.items()):
        if not model or len(model) > 512 or not isinstance(metrics, dict):
            raise BadLine("stats.models entries must be objects keyed by model name")
        tokens = object_field(metrics, "tokens")
        if tokens is None:
            continue
        observations.append(
            Observation(
                identity=f"{FORMAT}:{run}:{model}",
                session_id=scope,
                event_time=context.published_at,
                tokens=model_tokens(tokens),
                model=model,
                lineage=scope_lineage(context, scope),
            )
        )
    return observations, None
