"""Remove prompts, code and model output from CLI lines before they leave the runner.

The rule is an allowlist, so a field a CLI adds tomorrow is redacted until someone decides
it is safe: in a line of a known format

- numbers, booleans and null are kept everywhere (token counts, costs, durations, flags);
- object keys are kept (they are the CLI's field names), so the line keeps its shape;
- a string is kept only under a key of ``KEEP_STRINGS`` (ids, model, type names,
  timestamps); every other string becomes ``""``;
- the values of ``KEEP_SUBTREES`` keys (usage objects) are kept whole;
- the values of ``EMPTY_SUBTREES`` keys (tool inputs and results, whose keys may be file
  paths or user data) become an empty value of the same JSON type.

A line that cannot be read as a JSON object is replaced by a small marker object, so its
position still reaches the worker (which dead-letters it) without its bytes. Floats are
re-encoded in their shortest round-trip form: a JSON reader gets the identical value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from producers.formats import AUTO, KNOWN_FORMATS

# Strings that usage accounting needs, and that carry no prompt, code or output.
_IDS = {
    "id", "uuid", "parentUuid", "logicalParentUuid", "leafUuid", "messageId", "requestId",
    "sessionId", "session_id", "tool_use_id", "parent_tool_use_id", "toolUseID", "agentId",
    "sourceToolUseID", "thread_id", "turn_id", "call_id", "conversation_id", "prompt_id",
}  # fmt: skip
_NAMES = {
    "type", "subtype", "role", "model", "name", "stop_reason", "service_tier", "status",
    "version", "cli_version", "claude_code_version", "userType", "level", "apiKeySource",
    "permissionMode", "model_provider", "originator", "effort", "plan_type", "provider", "api",
}  # fmt: skip
_TIMES = {"timestamp", "created_at", "createdAt", "started_at", "completed_at", "startTime", "lastUpdated"}
KEEP_STRINGS: frozenset[str] = frozenset(_IDS | _NAMES | _TIMES)
KEEP_SUBTREES: frozenset[str] = frozenset(
    {"usage", "modelUsage", "total_token_usage", "last_token_usage", "cache_creation", "server_tool_use"}
)
EMPTY_SUBTREES: frozenset[str] = frozenset(
    {"input", "tool_input", "toolUseResult", "trackedFileBackups", "arguments", "changes"}
)

UNREADABLE_TYPE = "spendstream.unreadable"


class _Unredactable(Exception):
    """A known-format line that is not a JSON object (reason never quotes the line)."""


@dataclass(frozen=True, slots=True)
class Redacted:
    """A line as it will be published; ``changed`` is False when it went out as it came."""

    value: bytes
    changed: bool
    known_format: bool
    unreadable: bool = False


def is_known(fmt: str) -> bool:
    """Formats whose lines are redacted (``auto``: a line of one of the known formats)."""
    return fmt in KNOWN_FORMATS or fmt == AUTO


def _empty_like(value: Any) -> Any:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    if isinstance(value, str):
        return ""
    return value


class _Walk:
    """One redaction pass (scalars handled inline: most nodes of a line are strings and numbers)."""

    def value(self, value: Any, key: str | None) -> Any:
        kind = type(value)
        if kind is str:
            return value if key in KEEP_STRINGS else ""
        if kind is dict:
            return self.object(value)
        if kind is list:
            return self.array(value, key)
        return value

    def object(self, value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in value.items():
            kind = type(v)
            if k in KEEP_SUBTREES:
                out[k] = v
            elif k in EMPTY_SUBTREES:
                out[k] = _empty_like(v)
            elif kind is str:
                out[k] = v if k in KEEP_STRINGS else ""
            elif kind is dict:
                out[k] = self.object(v)
            elif kind is list:
                out[k] = self.array(v, k)
            else:
                out[k] = v
        return out

    def array(self, value: list[Any], key: str | None) -> list[Any]:
        return [self.value(item, key) for item in value]


def redact_object(obj: dict[str, Any]) -> dict[str, Any]:
    """The redacted copy of one decoded line (pure; the input is not modified)."""
    return _Walk().object(obj)


def _redact_bytes(line: bytes) -> bytes:
    """The line's publishable bytes: the redacted object, re-encoded even when nothing was
    removed, because the original bytes can carry what the decoded object does not show
    (a repeated key's first value, digits beyond a float's precision)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise _Unredactable("not valid JSON") from exc
    if not isinstance(obj, dict):
        raise _Unredactable("not a JSON object")
    try:
        return orjson.dumps(_Walk().object(obj))
    except (RecursionError, orjson.JSONEncodeError) as exc:
        raise _Unredactable("nested too deeply") from exc


def unreadable_marker(reason: str, size: int) -> bytes:
    return orjson.dumps({"type": UNREADABLE_TYPE, "reason": reason, "bytes": size})


def redact_line(line: bytes, fmt: str, *, keep_content: bool = False) -> Redacted:
    """The publishable form of one line of format ``fmt``."""
    known = is_known(fmt)
    if keep_content or not known:
        return Redacted(line, changed=False, known_format=known)
    try:
        value = _redact_bytes(line)
    except _Unredactable as exc:
        return Redacted(unreadable_marker(str(exc), len(line)), True, True, unreadable=True)
    return Redacted(value, changed=value != line, known_format=True)
