"""Which source format a line, a file or a wrapped command produces.

Format names are the parser names of ``schemas.sources`` (issue 3). Detection is a
best effort from what the runner can see without reading content: the command line
for ``run``, the path and the first line for ``watch`` and ``publish``. When it cannot
tell, the caller's ``--format`` decides; ``auto`` leaves the choice to the worker.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

import orjson

CLAUDE_JSON = "claude-json"
CLAUDE_STREAM_JSON = "claude-stream-json"
CLAUDE_TRANSCRIPT = "claude-transcript"
CODEX_JSON = "codex-json"
GEMINI_JSON = "gemini-json"
OPENCLAW = "openclaw"
AUTO = "auto"

KNOWN_FORMATS: frozenset[str] = frozenset(
    {CLAUDE_JSON, CLAUDE_STREAM_JSON, CLAUDE_TRANSCRIPT, CODEX_JSON, GEMINI_JSON, OPENCLAW}
)
# Formats whose output is one JSON document that may span lines (gemini pretty-prints).
DOCUMENT_FORMATS: frozenset[str] = frozenset({GEMINI_JSON})

_CODEX_EXEC_TYPES = frozenset(
    {"thread.started", "turn.started", "turn.completed", "turn.failed", "item.started", "item.updated"}
    | {"item.completed", "error"}
)
_CODEX_ROLLOUT_TYPES = frozenset({"session_meta", "response_item", "event_msg", "turn_context", "compacted"})
_TRANSCRIPT_ONLY_TYPES = frozenset({"summary", "file-history-snapshot", "queue-operation"})


def _tool_name(token: str) -> str:
    name = PurePath(token).name.lower()
    for suffix in (".exe", ".cmd", ".js", ".mjs"):
        name = name.removesuffix(suffix)
    return name


def _flag_value(args: Sequence[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


def _tokens(argv: Sequence[str]) -> list[str]:
    """argv with each element shell-split, so ``bash -c "claude -p ..."`` is seen too."""
    out: list[str] = []
    for arg in argv:
        try:
            out.extend(shlex.split(arg) if " " in arg else [arg])
        except ValueError:
            out.extend(arg.split())
    return out


def detect_command_format(argv: Sequence[str]) -> str | None:
    """The format a wrapped CLI prints, from its command line; None when it prints no usage."""
    tokens = _tokens(argv)
    for i, token in enumerate(tokens):
        name, rest = _tool_name(token), tokens[i + 1 :]
        if name in ("claude", "claude-code"):
            output = _flag_value(rest, "--output-format")
            return {"json": CLAUDE_JSON, "stream-json": CLAUDE_STREAM_JSON}.get(output or "")
        if name == "codex":
            is_exec = any(arg in ("exec", "e") for arg in rest[:3])
            wants_json = "--json" in rest or "--experimental-json" in rest
            return CODEX_JSON if is_exec and wants_json else None
        if name in ("gemini", "gemini-cli"):
            output = _flag_value(rest, "--output-format", "-o")
            return GEMINI_JSON if output == "json" else None
    return None


def default_watch_roots(environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(folder, format) pairs that ``watch`` follows when given no folder."""
    env = os.environ if environ is None else environ
    home = PurePath(env.get("HOME") or str(Path.home()))
    roots: list[tuple[str, str]] = []
    claude_dirs = [str(home / ".claude"), str(home / ".config" / "claude")]
    if env.get("CLAUDE_CONFIG_DIR"):
        claude_dirs = [d.strip() for d in env["CLAUDE_CONFIG_DIR"].split(",") if d.strip()]
    for base in claude_dirs:
        roots.append((str(PurePath(base) / "projects"), CLAUDE_TRANSCRIPT))
    codex_home = env.get("CODEX_HOME") or str(home / ".codex")
    roots.append((str(PurePath(codex_home) / "sessions"), CODEX_JSON))
    return roots


def detect_path_format(path: str) -> str | None:
    """Format implied by where a file lives (Claude Code projects, Codex sessions)."""
    parts = PurePath(path).parts
    for i, part in enumerate(parts[:-1]):
        if part == "projects" and i > 0 and parts[i - 1] in (".claude", "claude"):
            return CLAUDE_TRANSCRIPT
        if part == "sessions" and i > 0 and parts[i - 1] == ".codex":
            return CODEX_JSON
    if PurePath(path).name.startswith("rollout-"):
        return CODEX_JSON
    return None


def detect_line_format(line: bytes) -> str | None:
    """Format of one JSON line from its shape (type names and id key styles), else None."""
    try:
        obj: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if kind in _CODEX_EXEC_TYPES or (kind in _CODEX_ROLLOUT_TYPES and "payload" in obj):
        return CODEX_JSON
    if kind in _TRANSCRIPT_ONLY_TYPES or "sessionId" in obj:
        return CLAUDE_TRANSCRIPT
    if kind == "result" and "session_id" in obj:
        return CLAUDE_JSON
    if kind in ("system", "assistant", "user", "stream_event") and "session_id" in obj:
        return CLAUDE_STREAM_JSON
    if isinstance(obj.get("stats"), dict) and "models" in obj["stats"]:
        return GEMINI_JSON
    return None


def detect_file_format(path: str, first_line: bytes | None, requested: str = AUTO) -> str:
    """The format to publish a file's lines under: explicit request, then path, then content."""
    if requested != AUTO:
        return requested
    return detect_path_format(path) or (detect_line_format(first_line) if first_line else None) or AUTO
