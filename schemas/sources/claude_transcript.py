"""Claude Code session transcripts: ``~/.claude/projects/<project>/<session>.jsonl``.

Also subagent files (``<session>/subagents/agent-<id>.jsonl``, older builds
``agent-<id>.jsonl`` beside the session). Quirks (observed in
../shared/fixtures/real/claude-transcript/, Claude Code 2.0.76, and public reports):
- Claude Code writes one ``assistant`` line per content block of an API response, all
  with the same ``message.id`` and ``requestId``; ``output_tokens`` grows from line to
  line while the input and cache counts repeat. Summing lines counts a response ~3x;
  keeping the first line undercounts output ~100x. One response = one identity, the
  largest counts win, and a later, larger line yields only the growth (the ledger's rule).
- Identity: ``(sessionId, message.id)`` (claude_run.py), the one stream-json can compute
  too, so a run published as both counts once; every line is a part of the session's run
  group, reconciled with the run's ``claude -p`` results. ``requestId`` is not used (one
  fixture line has none). The session is in the identity because the group routes by
  session: a response copied into ANOTHER session id's file (a fork, ccusage#1765) is
  counted again there (schemas/sources/README.md, "Known limits"). A line without
  ``message.id`` is ``(sessionId, uuid)``.
- Subagent lines (``agentId``, or ``isSidechain: true`` on older builds without one) are
  scope ``<sessionId>/agent-<agentId>`` (``agent-sidechain`` when no id is known) with the
  producer's lineage and then the parent session in lineage.
- ``<synthetic>`` model lines and ``isApiErrorMessage`` lines are client-side error
  placeholders: no usage. ``user``, ``system``, ``summary``, ``file-history-snapshot``,
  ``queue-operation`` ... lines are valid and carry no usage.
- Response ids on events: ``message.id`` and ``requestId`` as the line gives them.
- Transcripts carry no cost (builds before 1.0.x had a line-level ``costUSD``, used when
  present), so cost is computed from the price table. Event time is the line's
  ``timestamp``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from schemas.sources.anthropic_usage import usage_tokens
from schemas.sources.base import (
    MAX_COUNT,
    MAX_ID_LEN,
    UNREADABLE_MARKER_TYPE,
    BadLine,
    LineContext,
    Observation,
    ParseResult,
    child_scope,
    cost_field,
    load_json_object,
    object_field,
    parse_timestamp,
    scope_lineage,
    text_field,
)
from schemas.sources.claude_run import message_identity, run_group
from schemas.usage import TokenCounts

FORMAT = "claude-transcript"
SYNTHETIC_MODEL = "<synthetic>"
SIDECHAIN_WITHOUT_ID = "sidechain"


def response_identity(obj: dict[str, Any], message: dict[str, Any], session_id: str, line: str) -> str:
    """The dedup key of the API response a transcript line belongs to (see module doc)."""
    message_id = text_field(message, "id")
    if message_id is not None:
        return message_identity(session_id, message_id)
    return f"{FORMAT}:{session_id}:line:{text_field(obj, 'uuid') or line}"


def _scope(
    obj: dict[str, Any], context: LineContext, session_id: str
) -> tuple[str, tuple[str, ...], str | None]:
    agent_id = text_field(obj, "agentId")
    if agent_id is None and obj.get("isSidechain") is not True:
        return session_id, scope_lineage(context, session_id), None
    scope = child_scope(session_id, agent_id or SIDECHAIN_WITHOUT_ID)
    return scope, scope_lineage(context, scope, session_id), agent_id


# What :func:`plain_response` gives: (identity, scope, lineage, agent_id, session_id,
# model, message_id, request_id, event_time, counts) with counts in TokenCounts' order
# (input, output, reasoning, cache read, cache write 5m, cache write 1h, web searches).
PlainResponse = tuple[
    str, str, tuple[str, ...], str | None, str, str, str, str | None, datetime, tuple[int, ...]
]


def _plain_text(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_ID_LEN


def _plain_count(obj: dict[str, Any], name: str) -> int | None:
    value = obj.get(name)
    if value is None:
        return 0
    return value if type(value) is int and 0 <= value <= MAX_COUNT else None


def _plain_counts(usage: dict[str, Any]) -> tuple[int, ...] | None:
    inp = _plain_count(usage, "input_tokens")
    out = _plain_count(usage, "output_tokens")
    read = _plain_count(usage, "cache_read_input_tokens")
    write = _plain_count(usage, "cache_creation_input_tokens")
    write_5m: int | None = 0
    write_1h: int | None = 0
    split = usage.get("cache_creation")
    if split is not None:
        if type(split) is not dict:
            return None
        write_5m = _plain_count(split, "ephemeral_5m_input_tokens")
        write_1h = _plain_count(split, "ephemeral_1h_input_tokens")
    tools = usage.get("server_tool_use")
    searches: int | None = 0
    if tools is not None:
        searches = _plain_count(tools, "web_search_requests") if type(tools) is dict else None
    if inp is None or out is None or read is None or write is None:
        return None
    if write_5m is None or write_1h is None or searches is None:
        return None
    write = max(write, write_5m + write_1h)
    return (inp, out, 0, read, write - write_1h, write_1h, searches)


def plain_response(obj: dict[str, Any]) -> PlainResponse | None:
    """The usage of an ``assistant`` line of the common shape, read in one pass: a main or
    subagent (``agentId``) line with ``sessionId``, ``message.id``, a model, a well-formed
    ``usage``, an ISO-8601 ``timestamp`` with a zone, and neither ``costUSD`` nor
    ``isApiErrorMessage``. None for every other line (then :func:`parse`'s general reading
    decides: usage, no usage or a bad line). What it returns is exactly what :func:`parse`
    makes of the line, with the producer's context adding nothing (no lineage, labels or
    session hint); :func:`parse` itself uses it, so the two cannot disagree."""
    if obj.get("type") != "assistant" or "isApiErrorMessage" in obj or "costUSD" in obj:
        return None
    message = obj.get("message")
    if type(message) is not dict:
        return None
    usage, model, message_id = message.get("usage"), message.get("model"), message.get("id")
    session_id, agent_id, stamp = obj.get("sessionId"), obj.get("agentId"), obj.get("timestamp")
    request_id = obj.get("requestId")
    if (
        type(usage) is not dict
        or not _plain_text(model)
        or model == SYNTHETIC_MODEL
        or not _plain_text(message_id)
        or not _plain_text(session_id)
        or type(stamp) is not str
        or len(stamp) > 64
        or not (request_id is None or _plain_text(request_id))
    ):
        return None
    counts = _plain_counts(usage)
    if counts is None:
        return None
    session_id = cast(str, session_id)
    lineage: tuple[str, ...] = ()
    if agent_id is None or agent_id == "":
        if obj.get("isSidechain") is True:
            return None
        scope, agent = session_id, None
    elif type(agent_id) is str and len(session_id) + len(agent_id) + 7 <= MAX_ID_LEN:
        scope, lineage, agent = f"{session_id}/agent-{agent_id}", (session_id,), agent_id
    else:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return None
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    identity = message_identity(session_id, cast(str, message_id))
    plain = (identity, scope, lineage, agent, session_id, model, message_id, request_id, moment, counts)
    return cast(PlainResponse, plain)


def _plain_observation(plain: PlainResponse, context: LineContext) -> Observation:
    identity, scope, lineage, agent_id, session_id, model, message_id, request_id, moment, counts = plain
    if context.lineage:
        lineage = scope_lineage(context, scope, *lineage)
    return Observation(
        identity=identity,
        session_id=scope,
        event_time=moment,
        tokens=TokenCounts(*counts),
        model=model,
        lineage=lineage,
        agent_id=agent_id,
        group=run_group(session_id),
        message_id=message_id,
        request_id=request_id,
    )


def _assistant(obj: dict[str, Any], context: LineContext) -> list[Observation]:
    if obj.get("isApiErrorMessage") is True:
        return []
    message = object_field(obj, "message", required=True)
    assert message is not None
    model = text_field(message, "model")
    usage = object_field(message, "usage")
    if model == SYNTHETIC_MODEL or usage is None:
        return []
    session_id = text_field(obj, "sessionId")
    if session_id is None:
        raise BadLine("assistant line has no sessionId")
    scope, lineage, agent_id = _scope(obj, context, session_id)
    return [
        Observation(
            identity=response_identity(obj, message, session_id, f"{context.stream_id}@{context.position}"),
            session_id=scope,
            event_time=parse_timestamp(obj.get("timestamp"), context.published_at),
            tokens=usage_tokens(usage),
            reported_cost_usd=cost_field(obj, "costUSD"),
            model=model,
            lineage=lineage,
            agent_id=agent_id,
            group=run_group(session_id),
            message_id=text_field(message, "id"),
            request_id=text_field(obj, "requestId"),
        )
    ]


def other_kind(obj: dict[str, Any]) -> bool:
    """True for a decoded line of a valid kind that carries no usage (``user``, ``system``
    ...): a string ``type`` other than ``assistant`` (and other than the producer's
    unreadable marker, which :func:`load_json_object` refuses)."""
    kind = obj.get("type")
    return type(kind) is str and kind != "assistant" and kind != UNREADABLE_MARKER_TYPE


def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
    obj = load_json_object(line)
    if other_kind(obj):
        return [], None
    if not isinstance(obj.get("type"), str):
        raise BadLine("a transcript line has a string 'type'")
    plain = plain_response(obj)
    if plain is not None:
        return [_plain_observation(plain, context)], None
    return _assistant(obj, context), None
