"""``claude -p --output-format stream-json --verbose``: one JSON event per line.

Quirks (observed in ../shared/fixtures/real/claude-stream-json/ and public captures):
- An ``assistant`` line carries one content block of a message and the message's API
  ``usage``; a message with several blocks is repeated once per block with the same
  ``message.id``, and its ``output_tokens`` is a snapshot that may lag the final count.
  One message = one identity ``(session_id, message.id)``; the largest counts win.
- A ``result`` line (same shape as claude-json) carries totals and ``total_cost_usd``
  that are cumulative for the CLI PROCESS, not the session (anthropics/claude-code#83239):
  with ``--input-format stream-json`` each turn's result restates the process total, and
  a ``--resume`` starts a new process whose counter restarts under the same session id.
  So the group is one process's run, ``(session_id, stream)`` (a stream is one process's
  stdout, schemas/raw.py): its messages are the parts and its results the total, the run
  counts max(sum of messages, largest result) per field, and publishing the stream AND
  its results never double counts, while a resumed process adds its own spend.
- Subagent (Task tool) lines carry a non-null ``parent_tool_use_id``: they are scope
  ``<session_id>/agent-<parent_tool_use_id>``, a child of the session (session in lineage,
  after the producer's lineage), and part of the run's group, because the result's
  totals include subagents.
- Response id on events: ``message.id`` (lines carry no ``requestId``). A ``result``
  covers many responses: no response id.
- ``<synthetic>`` model lines are client-side error placeholders: no usage.
- ``system``, ``user``, ``stream_event`` (partial messages, whose usage repeats the
  assistant lines') and other lines are valid and carry no usage.
- Lines have no timestamp on most builds: the producer's time is used when absent.
- Auth: the ``system``/``init`` line's ``apiKeySource`` names where the key came from
  (``ANTHROPIC_API_KEY``, ``apiKeyHelper``, ``user``/``project``/``org``: a key, so
  ``api_key``) or ``none`` (no key: the claude.ai login, so ``subscription``, unless the
  model id is a Bedrock/Vertex one, billed by the cloud account: ``api_key``). Only the
  mode is kept, in the parser state ``{"auth": mode}``, for the stream's later lines.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from schemas.sources.anthropic_usage import result_cost, result_totals, usage_tokens
from schemas.sources.base import (
    BadLine,
    LineContext,
    Observation,
    ParseResult,
    child_scope,
    load_json_object,
    object_field,
    parse_timestamp,
    scope_lineage,
    text_field,
)
from schemas.usage import AuthMode

FORMAT = "claude-stream-json"
_CLOUD_MODEL_PREFIXES = ("arn:aws:bedrock", "us.anthropic.", "eu.anthropic.", "apac.anthropic.", "anthropic.")
SYNTHETIC_MODEL = "<synthetic>"


def _group(session_id: str, context: LineContext) -> str:
    """One process's run: results are cumulative per process, a stream is one process."""
    return f"{FORMAT}:{session_id}@{context.stream_id}"


def _line_name(obj: dict[str, Any], context: LineContext) -> str:
    return text_field(obj, "uuid") or f"{context.stream_id}@{context.position}"


def _assistant(obj: dict[str, Any], context: LineContext, session_id: str) -> list[Observation]:
    message = object_field(obj, "message", required=True)
    assert message is not None
    model = text_field(message, "model")
    usage = object_field(message, "usage")
    if model == SYNTHETIC_MODEL or usage is None:
        return []
    message_id = text_field(message, "id") or _line_name(obj, context)
    parent_tool = text_field(obj, "parent_tool_use_id")
    if parent_tool is None:
        scope, lineage = session_id, scope_lineage(context, session_id)
    else:
        scope = child_scope(session_id, parent_tool)
        lineage = scope_lineage(context, scope, session_id)
    return [
        Observation(
            identity=f"{FORMAT}:{session_id}:{message_id}",
            session_id=scope,
            event_time=parse_timestamp(obj.get("timestamp"), context.published_at),
            tokens=usage_tokens(usage),
            model=model,
            lineage=lineage,
            agent_id=parent_tool,
            group=_group(session_id, context),
            message_id=text_field(message, "id"),
        )
    ]


def _result(obj: dict[str, Any], context: LineContext, session_id: str) -> list[Observation]:
    tokens, model = result_totals(obj)
    return [
        Observation(
            identity=f"{FORMAT}:{session_id}:result:{_line_name(obj, context)}",
            session_id=session_id,
            event_time=parse_timestamp(obj.get("timestamp"), context.published_at),
            tokens=tokens,
            reported_cost_usd=result_cost(obj),
            model=model or text_field(obj, "model"),
            lineage=scope_lineage(context, session_id),
            group=_group(session_id, context),
            is_group_total=True,
        )
    ]


def init_auth(obj: dict[str, Any]) -> AuthMode | None:
    """The auth mode an init line reports (``apiKeySource``), None when it reports none."""
    source = obj.get("apiKeySource")
    if not isinstance(source, str) or not source:
        return None
    if source != "none":
        return "api_key"
    model = obj.get("model")
    if isinstance(model, str) and (model.startswith(_CLOUD_MODEL_PREFIXES) or "@" in model):
        return "api_key"  # Bedrock/Vertex: no Anthropic key, billed by the cloud account
    return "subscription"


def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
    obj = load_json_object(line)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise BadLine("a stream-json line has a string 'type'")
    # Only the known shape of state is kept: the worker's state store is not trusted either.
    auth = state.get("auth") if isinstance(state, dict) else None
    state = {"auth": auth} if auth in ("api_key", "subscription") else None
    if kind == "system" and obj.get("subtype") == "init":
        reported = init_auth(obj)
        return [], ({"auth": reported} if reported is not None else state)
    if kind not in ("assistant", "result"):
        return [], state
    session_id = text_field(obj, "session_id", required=True)
    assert session_id is not None
    found = _assistant(obj, context, session_id) if kind == "assistant" else _result(obj, context, session_id)
    if auth in ("api_key", "subscription"):
        found = [replace(o, auth_mode=auth) for o in found]
    return found, state
