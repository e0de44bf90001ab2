"""OpenClaw session transcripts: ``~/.openclaw/agents/<agent>/sessions/<session>.jsonl``.

Quirks (observed in tests/fixtures/openclaw/, a real OpenClaw session, and in the OpenClaw
source: ``src/infra/session-cost-usage.ts``, ``src/agents/usage.ts``):
- The file is a pi-coding-agent session (format v3): line 1 is the header
  ``{"type":"session","id":<session id>,...}``; then ``message``, ``model_change``,
  ``thinking_level_change``, ``custom``, ``compaction``, ``branch_summary`` ... entries,
  each with an 8-hex ``id`` unique in its file and a ``parentId`` (the entries form a tree).
  Only ``message`` entries whose ``message.role`` is ``assistant`` carry usage; user,
  ``toolResult`` and every other entry are valid lines without usage.
- ``message.usage`` is ``{input, output, cacheRead, cacheWrite, totalTokens, cost}``,
  already normalized by OpenClaw across providers: ``input`` EXCLUDES cache reads and
  writes (like Claude's, unlike Codex's), ``output`` includes reasoning. Cache writes are
  not split by TTL: they count as 5-minute writes. ``totalTokens`` is not checked (it is
  a display figure; some providers' totals differ).
- ``usage.cost.total`` is the reported cost (OpenClaw prices each response from its
  model config); older builds / OpenRouter wrote ``cost`` as a bare number, also read.
  It is 0 for models configured without prices, so 0 is "reported as free", not missing.
- Failed calls (``stopReason: "error"``) and gateway-injected messages are written with
  all-zero usage: no usage.
- One response is written once (no per-block repeats), but a file can be published again:
  identity ``openclaw:<session id>:<entry id>``. Before the header is seen (parser state
  ``{"session": id}``), the stream is the session: ``openclaw:stream:<stream>:<entry id>``.
- Response id on events: the entry ``id`` (one entry is one response); no request id
  is written.
- ``provider`` ``openai-codex`` is the ChatGPT-subscription login: auth_mode
  ``subscription`` (its reported cost is notional). Other providers: unknown.
- Event time: the entry's ``timestamp`` (ISO), else ``message.timestamp`` (ms), else the
  producer's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.sources.base import (
    MAX_ID_LEN,
    BadLine,
    LineContext,
    Observation,
    ParseResult,
    cost_field,
    count_field,
    fallback_scope,
    load_json_object,
    make_tokens,
    object_field,
    parse_timestamp,
    scope_lineage,
    text_field,
)
from schemas.usage import AuthMode, TokenCounts

FORMAT = "openclaw"
SUBSCRIPTION_PROVIDERS = frozenset({"openai-codex"})
# Milliseconds since the epoch that a datetime can hold (years 1970..9999).
_MAX_EPOCH_MS = 253_402_300_799_999


def usage_tokens(usage: dict[str, Any]) -> TokenCounts:
    """An OpenClaw ``usage`` object in spendstream's meaning (see module doc)."""
    return make_tokens(
        input_tokens=count_field(usage, "input"),
        output_tokens=count_field(usage, "output"),
        cache_read_tokens=count_field(usage, "cacheRead"),
        cache_write_5m_tokens=count_field(usage, "cacheWrite"),
    )


def reported_cost(usage: dict[str, Any]) -> Decimal | None:
    """``usage.cost.total``, or ``usage.cost`` when it is a bare number; None when absent."""
    cost = usage.get("cost")
    if isinstance(cost, dict):
        return cost_field(cost, "total")
    return cost_field(usage, "cost")


def _event_time(entry: dict[str, Any], message: dict[str, Any], context: LineContext) -> datetime:
    if isinstance(entry.get("timestamp"), str):
        return parse_timestamp(entry["timestamp"], context.published_at)
    millis = message.get("timestamp")
    if type(millis) is int and 0 <= millis <= _MAX_EPOCH_MS:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    return context.published_at


def _assistant(entry: dict[str, Any], context: LineContext, session: str | None) -> list[Observation]:
    message = object_field(entry, "message", required=True)
    assert message is not None
    if message.get("role") != "assistant":
        return []
    usage = object_field(message, "usage")
    if usage is None:
        return []
    tokens = usage_tokens(usage)
    cost = reported_cost(usage)
    if tokens.is_zero() and not cost:
        return []
    entry_id = text_field(entry, "id") or f"line:{context.position}"
    if session is not None:
        identity, scope = f"{FORMAT}:{session}:{entry_id}", session
    else:
        identity, scope = f"{FORMAT}:stream:{context.stream_id}:{entry_id}", fallback_scope(context)
    provider = text_field(message, "provider")
    auth: AuthMode | None = "subscription" if provider in SUBSCRIPTION_PROVIDERS else None
    return [
        Observation(
            identity=identity,
            session_id=scope,
            event_time=_event_time(entry, message, context),
            tokens=tokens,
            reported_cost_usd=cost,
            model=text_field(message, "model"),
            lineage=scope_lineage(context, scope),
            auth_mode=auth,
            message_id=text_field(entry, "id"),
        )
    ]


def _session(state: Any) -> str | None:
    session = state.get("session") if isinstance(state, dict) else None
    if isinstance(session, str) and 0 < len(session) <= MAX_ID_LEN:
        return session
    return None


def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
    entry = load_json_object(line)
    kind = entry.get("type")
    if not isinstance(kind, str):
        raise BadLine("an openclaw line has a string 'type'")
    session = _session(state)
    current = None if session is None else {"session": session}
    if kind == "session":
        return [], {"session": text_field(entry, "id", required=True)}
    if kind == "message":
        return _assistant(entry, context, session), current
    return [], current
