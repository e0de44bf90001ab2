"""``claude -p --output-format stream-json --verbose``: one JSON event per line.

Quirks (observed in ../shared/fixtures/real/claude-stream-json/ and public captures):
- An ``assistant`` line carries one content block of a message and the message's API
  ``usage``; a message with several blocks is repeated once per block with the same
  ``message.id``, and its ``output_tokens`` is a snapshot that may lag the final count.
  One message = one identity ``(session_id, message.id)``, the same as the transcript's
  (claude_run.py); the largest counts win.
- A ``result`` line (same shape as claude-json) carries totals and ``total_cost_usd``
  that are cumulative for the CLI PROCESS, not the session (anthropics/claude-code#83239):
  with ``--input-format stream-json`` each turn's result restates the process total, and
  a ``--resume`` starts a new process whose counter restarts under the same session id.
  So a result's identity is one process, max-merged: each turn's restatement counts
  once, a resumed process adds its own. The process is named by the ``uuid`` of the
  stream's first ``system`` init line (parser state ``{"process"}``, kept per stream by
  the worker), so two producers of one stdout (``run`` and a later ``publish`` of a saved
  copy) name the same process; a stream without an init line is its own process.
  Messages are parts and results totals of the session's run group (claude_run.py),
  shared with transcripts and claude-json: per model, max(sum of messages, sum of
  results), never double counted.
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
from schemas.sources.claude_run import message_identity, run_group
from schemas.usage import AuthMode

FORMAT = "claude-stream-json"
_CLOUD_MODEL_PREFIXES = ("arn:aws:bedrock", "us.anthropic.", "eu.anthropic.", "apac.anthropic.", "anthropic.")
SYNTHETIC_MODEL = "<synthetic>"
# Parser state: the uuid of the stream's first ``system`` init line (its CLI process).
STATE_PROCESS = "process"


def _line_name(obj: dict[str, Any], context: LineContext) -> str:
    return text_field(obj, "uuid") or f"{context.stream_id}@{context.position}"


def _assistant(obj: dict[str, Any], context: LineContext, session_id: str) -> list[Observation]:
    message = object_field(obj, "message", required=True)
    assert message is not None
    model = text_field(message, "model")
    usage = object_field(message, "usage")
    if model == SYNTHETIC_MODEL or usage is None:
        return []
    message_id = text_field(message, "id")
    identity = (
        message_identity(session_id, message_id)
        if message_id is not None
        else f"{FORMAT}:{session_id}:line:{_line_name(obj, context)}"
    )
    parent_tool = text_field(obj, "parent_tool_use_id")
    if parent_tool is None:
        scope, lineage = session_id, scope_lineage(context, session_id)
    else:
        scope = child_scope(session_id, parent_tool)
        lineage = scope_lineage(context, scope, session_id)
    return [
        Observation(
            identity=identity,
            session_id=scope,
            event_time=parse_timestamp(obj.get("timestamp"), context.published_at),
            tokens=usage_tokens(usage),
            model=model,
            lineage=lineage,
            agent_id=parent_tool,
            group=run_group(session_id),
            message_id=text_field(message, "id"),
        )
    ]


def _process(state: Any, context: LineContext) -> str:
    """The CLI process a stream's results belong to: its init line's uuid (the same for two
    producers of one stdout), else the stream (no init line seen)."""
    if isinstance(state, dict) and isinstance(state.get(STATE_PROCESS), str):
        return f"init:{state[STATE_PROCESS]}"
    return f"stream:{context.stream_id}"


def _result(obj: dict[str, Any], context: LineContext, session_id: str, process: str) -> list[Observation]:
    tokens, model = result_totals(obj)
    return [
        Observation(
            # One identity per process, max-merged: each turn's result restates its total.
            identity=f"{FORMAT}:{session_id}:result@{process}",
            session_id=session_id,
            event_time=parse_timestamp(obj.get("timestamp"), context.published_at),
            tokens=tokens,
            reported_cost_usd=result_cost(obj),
            model=model or text_field(obj, "model"),
            lineage=scope_lineage(context, session_id),
            group=run_group(session_id),
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
    # {"auth": the mode the init line reported, STATE_PROCESS: the init line's uuid}.
    raw = state if isinstance(state, dict) else {}
    auth = raw.get("auth") if raw.get("auth") in ("api_key", "subscription") else None
    process = raw.get(STATE_PROCESS) if isinstance(raw.get(STATE_PROCESS), str) else None
    state = {k: v for k, v in (("auth", auth), (STATE_PROCESS, process)) if v is not None} or None
    if kind == "system" and obj.get("subtype") == "init":
        reported = init_auth(obj)
        if reported is not None:
            state = {**(state or {}), "auth": reported}
        init = text_field(obj, "uuid")
        if init is not None and _process(state, context).startswith("stream:"):
            state = {**(state or {}), STATE_PROCESS: init}
        return [], state
    if kind not in ("assistant", "result"):
        return [], state
    session_id = text_field(obj, "session_id", required=True)
    assert session_id is not None
    if kind == "assistant":
        found = _assistant(obj, context, session_id)
    else:
        found = _result(obj, context, session_id, _process(state, context))
    if auth in ("api_key", "subscription"):
        found = [replace(o, auth_mode=auth) for o in found]
    return found, state
