"""``claude -p --output-format json``: one result object per run.

Quirks (observed in ../shared/fixtures/real/claude-json/ and public captures):
- ``usage.input_tokens`` excludes cache; ``cache_creation_input_tokens`` is split into
  ``cache_creation.ephemeral_5m/1h_input_tokens`` only on newer builds (else: all 5-minute).
- ``modelUsage`` (newer builds) gives per-model tokens and ``costUSD``: one observation
  per model (subagents run on other models, e.g. Haiku). Older builds only have ``usage``
  + ``total_cost_usd`` (older still: ``cost_usd``) and no model name.
- ``modelUsage`` may lack fields that ``usage`` has: CLI 2.1.141 gave ``usage``
  ``cache_creation_input_tokens: 83842`` and a ``modelUsage`` entry without cache fields
  (issue 12, seed 000; tests/fixtures/claude-json/). A cache field no entry reports is
  taken from ``usage``: all of it with one model, split over several by their reported
  tokens, remainder to the largest, so the run's total equals ``usage``
  (anthropic_usage.py, ``result_model_tokens``).
- Error subtypes (``error_max_turns``, ``error_during_execution``) still cost money: the
  subtype is not looked at.
- No timestamp: the event time is the producer's.
- Identity: ``(session_id, uuid)`` (+ model with ``modelUsage``); a result without
  ``uuid`` is named by its stream position. The same result seen twice is the same usage.
- No response id: a result sums every API response of the run, and names none of them.
- Each result is a total of the session's run group (claude_run.py), per model: the
  run's transcript and stream-json messages are its parts, so any mix of views counts
  the run once; results without a model cover the whole session.
"""

from __future__ import annotations

from typing import Any

from schemas.sources.anthropic_usage import (
    result_cost,
    result_model_tokens,
    usage_tokens,
)
from schemas.sources.base import (
    BadLine,
    LineContext,
    Observation,
    ParseResult,
    cost_field,
    load_json_object,
    object_field,
    scope_lineage,
    text_field,
)
from schemas.sources.claude_run import run_group

FORMAT = "claude-json"


def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
    obj = load_json_object(line)
    if obj.get("type") != "result":
        raise BadLine("a claude-json line is a result object (type 'result')")
    session_id = text_field(obj, "session_id", required=True)
    assert session_id is not None
    run_id = text_field(obj, "uuid") or f"{context.stream_id}@{context.position}"
    common: dict[str, Any] = {
        "session_id": session_id,
        "event_time": context.published_at,
        "lineage": scope_lineage(context, session_id),
        "group": run_group(session_id),
        "is_group_total": True,
    }
    per_model = result_model_tokens(obj)
    if per_model:
        return [
            Observation(
                identity=f"{FORMAT}:{session_id}:{run_id}:{model}",
                tokens=tokens,
                reported_cost_usd=cost_field(entry, "costUSD"),
                model=model,
                **common,
            )
            for model, entry, tokens in per_model
        ], None
    usage = object_field(obj, "usage")
    if usage is None:
        raise BadLine("result has no usage object")
    return [
        Observation(
            identity=f"{FORMAT}:{session_id}:{run_id}",
            tokens=usage_tokens(usage),
            reported_cost_usd=result_cost(obj),
            model=text_field(obj, "model"),
            **common,
        )
    ], None
