"""Codex CLI: ``codex exec --json`` event lines AND rollout files, one format.

Quirks (observed in ../shared/fixtures/real/codex-exec-json/, codex-rs source and public
reports):
- Both shapes report ``input_tokens`` INCLUDING ``cached_input_tokens`` (unlike Claude):
  input = input_tokens - cached_input_tokens, cache_read = cached_input_tokens.
  ``reasoning_output_tokens`` (rollouts) is already inside ``output_tokens``: it is
  reported as ``reasoning_tokens`` and never added to output again.
- ``codex exec --json``: ``thread.started`` names the thread (kept in parser state);
  ``turn.completed.usage`` is the THREAD's cumulative usage, not the turn's (codex-rs
  ``event_processor_with_jsonl_output.rs`` reports ``usage.total``; resumed threads report
  totals including earlier runs, gitmoot#661). So a turn is not an identity: the thread
  is, observed absolutely, and the ledger emits only what grew. Re-publishing a line, or
  a later run of the same thread, therefore never double counts.
- Rollouts (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``): ``session_meta`` names the
  session (the same id as the exec thread), ``turn_context`` the model; ``event_msg``
  with ``payload.type == "token_count"`` carries ``info.total_token_usage``, cumulative for
  the session: the same absolute observation of the same identity as exec's, so
  publishing a run's exec output AND its rollout counts it once. ``info`` is null before
  the first response: no usage. Older rollouts (no ``type`` on lines) carry no usage.
- Identity: ``codex:<thread or session id>``. Without a known id (thread.started not seen
  by this parser state) the stream is the identity: ``codex:stream:<stream id>``.
- No cost anywhere; exec lines name no model. The model is the rollout's
  ``turn_context.model``, else the producer's label ``model`` (``ss-label-model``), else
  unknown (the event is unpriced unless a reported cost exists, which never does here).
- No response id: usage is the thread's cumulative counter, and ``turn.completed`` names
  no turn or response (a turn may be several model calls).
- Parser state: ``{"session": id, "model": name}`` (JSON-serializable), per stream.
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
    parse_timestamp,
    scope_lineage,
    text_field,
)
from schemas.usage import TokenCounts

FORMAT = "codex-json"
_STATE_KEYS = ("session", "model")


def usage_tokens(usage: dict[str, Any]) -> TokenCounts:
    """A Codex usage object (exec ``usage`` or rollout ``total_token_usage``)."""
    input_tokens = count_field(usage, "input_tokens")
    cached = count_field(usage, "cached_input_tokens")
    if cached > input_tokens:
        raise BadLine("cached_input_tokens exceeds input_tokens")
    output = count_field(usage, "output_tokens")
    return make_tokens(
        input_tokens=input_tokens - cached,
        cache_read_tokens=cached,
        output_tokens=output,
        reasoning_tokens=min(count_field(usage, "reasoning_output_tokens"), output),
    )


def _clean_state(state: Any) -> dict[str, str]:
    if not isinstance(state, dict):
        return {}
    return {k: v for k, v in state.items() if k in _STATE_KEYS and isinstance(v, str)}


def _with(state: dict[str, str], key: str, value: str | None) -> dict[str, str]:
    return {**state, key: value} if value is not None else state


def _observation(
    usage: dict[str, Any], obj: dict[str, Any], context: LineContext, state: dict[str, str]
) -> Observation:
    session = state.get("session")
    if session is not None:
        identity, scope = f"codex:{session}", session
    else:
        identity = f"codex:stream:{context.stream_id}"
        scope = fallback_scope(context)
    return Observation(
        identity=identity,
        session_id=scope,
        event_time=parse_timestamp(obj.get("timestamp"), context.published_at),
        tokens=usage_tokens(usage),
        model=state.get("model") or text_field(context.labels, "model"),
        lineage=scope_lineage(context, scope),
    )


def _rollout_event(obj: dict[str, Any], context: LineContext, state: dict[str, str]) -> list[Observation]:
    payload = object_field(obj, "payload", required=True)
    assert payload is not None
    if payload.get("type") != "token_count":
        return []
    info = object_field(payload, "info")
    if info is None:
        return []
    total = object_field(info, "total_token_usage", required=True)
    assert total is not None
    return [_observation(total, obj, context, state)]


def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
    obj = load_json_object(line)
    kind = obj.get("type")
    current = _clean_state(state)
    if kind is None:
        return [], current
    if not isinstance(kind, str):
        raise BadLine("a codex line's 'type' must be a string")
    if kind == "thread.started":
        return [], _with(current, "session", text_field(obj, "thread_id", required=True))
    if kind == "turn.completed":
        usage = object_field(obj, "usage", required=True)
        assert usage is not None
        return [_observation(usage, obj, context, current)], current
    if kind == "session_meta":
        payload = object_field(obj, "payload", required=True)
        assert payload is not None
        return [], _with(current, "session", text_field(payload, "id", required=True))
    if kind == "turn_context":
        payload = object_field(obj, "payload", required=True)
        assert payload is not None
        return [], _with(current, "model", text_field(payload, "model"))
    if kind == "event_msg":
        return _rollout_event(obj, context, current), current
    return [], current
