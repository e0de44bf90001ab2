"""Format detection (``--format auto``): which source a line comes from, from its shape alone.

:func:`detect_format` looks at the line's ``type`` and at key spellings, never at content:

- ``codex-json``: a ``codex exec --json`` type (``thread.started``, ``turn.completed`` ...),
  or a rollout type (``session_meta``, ``event_msg`` ...) with a ``payload``;
- ``openclaw``: ``session`` with an ``id``, ``message`` with a ``message`` object, or another
  OpenClaw entry type (``model_change``, ``custom`` with ``customType`` ...);
- ``claude-transcript``: a camelCase ``sessionId`` key, or ``summary`` /
  ``file-history-snapshot`` / ``queue-operation``;
- ``claude-json``: ``result`` with ``session_id``;
- ``claude-stream-json``: ``system`` / ``assistant`` / ``user`` / ``stream_event`` with
  ``session_id``;
- ``gemini-json``: a ``stats`` object with ``models``, or an object without ``type`` whose
  keys are all among ``session_id``, ``response``, ``stats``, ``error``.

Anything else is None: not every line of a format names it (a Codex ``item.*`` line does,
an OpenClaw tool result does; a Claude stream's ``result`` looks exactly like a
``claude -p --output-format json`` result and is taken for one). So a stream is classified
by its FIRST RECOGNISABLE line (:func:`detect_stream_format`) and keeps that format.

The ``auto`` parser (:func:`make_auto_parser`) does the same per stream inside the worker,
for records a producer could not classify: it remembers the detected format in its state
(``{"format": f, "state": <that parser's state>}``), tags observations with it (so events
carry the real source, not ``auto``), and rejects lines seen before any recognisable one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from itertools import islice
from typing import Any

import orjson

from schemas.sources.base import BadLine, LineContext, Parser, ParseResult, load_json_object

AUTO = "auto"
CLAUDE_JSON = "claude-json"
CLAUDE_STREAM_JSON = "claude-stream-json"
CLAUDE_TRANSCRIPT = "claude-transcript"
CODEX_JSON = "codex-json"
GEMINI_JSON = "gemini-json"
OPENCLAW = "openclaw"

# How many lines of a stream to look at before giving up on classifying it.
DETECT_MAX_LINES = 64

_CODEX_EXEC_TYPES = frozenset(
    {"thread.started", "turn.started", "turn.completed", "turn.failed", "item.started", "item.updated"}
    | {"item.completed", "error"}
)
_CODEX_ROLLOUT_TYPES = frozenset({"session_meta", "response_item", "event_msg", "turn_context", "compacted"})
_TRANSCRIPT_ONLY_TYPES = frozenset({"summary", "file-history-snapshot", "queue-operation"})
_OPENCLAW_ENTRY_TYPES = frozenset(
    {"model_change", "thinking_level_change", "compaction", "branch_summary", "custom_message", "label"}
    | {"session_info"}
)
_STREAM_JSON_TYPES = frozenset({"system", "assistant", "user", "stream_event"})
# Every key of a ``gemini --output-format json`` document (an error-only one has no stats).
_GEMINI_KEYS = frozenset({"session_id", "response", "stats", "error"})


def _is_openclaw(kind: object, obj: dict[str, Any]) -> bool:
    if kind == "session":
        return "id" in obj and "sessionId" not in obj
    if kind == "message":
        return isinstance(obj.get("message"), dict)
    if kind == "custom":
        return "customType" in obj
    return kind in _OPENCLAW_ENTRY_TYPES


def detect_format(line: bytes) -> str | None:
    """The source format of one line from its shape (see module doc), else None."""
    try:
        obj: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if not isinstance(kind, str | None):
        return None
    if kind in _CODEX_EXEC_TYPES or (kind in _CODEX_ROLLOUT_TYPES and "payload" in obj):
        return CODEX_JSON
    if _is_openclaw(kind, obj):
        return OPENCLAW
    if kind in _TRANSCRIPT_ONLY_TYPES or "sessionId" in obj:
        return CLAUDE_TRANSCRIPT
    if kind == "result" and "session_id" in obj:
        return CLAUDE_JSON
    if kind in _STREAM_JSON_TYPES and "session_id" in obj:
        return CLAUDE_STREAM_JSON
    stats = obj.get("stats")
    if (isinstance(stats, dict) and "models" in stats) or (
        kind is None and obj and obj.keys() <= _GEMINI_KEYS
    ):
        return GEMINI_JSON
    return None


def detect_stream_format(lines: Iterable[bytes], max_lines: int = DETECT_MAX_LINES) -> str | None:
    """The format of a stream: that of its first recognisable line among the first ``max_lines``."""
    for line in islice(lines, max_lines):
        fmt = detect_format(line)
        if fmt is not None:
            return fmt
    return None


def make_auto_parser(parsers: Mapping[str, Parser]) -> Parser:
    """The ``auto`` parser over ``parsers``: detect once per stream, then delegate."""

    def parse(line: bytes, context: LineContext, state: Any) -> ParseResult:
        fmt, inner = _remembered(state, parsers)
        if fmt is None:
            fmt = detect_format(line)
            if fmt is None:
                load_json_object(line)  # the usual reason for a line that is not an object
                raise BadLine("source format not recognised from this line (publish with --format)")
        observations, inner = parsers[fmt](line, replace(context, source=fmt), inner)
        return [replace(o, source=fmt) for o in observations], {"format": fmt, "state": inner}

    return parse


def _remembered(state: Any, parsers: Mapping[str, Parser]) -> tuple[str | None, Any]:
    fmt = state.get("format") if isinstance(state, dict) else None
    if isinstance(fmt, str) and fmt in parsers and fmt != AUTO:
        return fmt, state.get("state")
    return None, None
