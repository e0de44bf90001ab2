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

from typing import Any

from schemas.sources.anthropic_usage import usage_tokens
from schemas.sources.base import (
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


def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
    obj = load_json_object(line)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise BadLine("a transcript line has a string 'type'")
    if kind != "assistant":
        return [], None
    return _assistant(obj, context), None
