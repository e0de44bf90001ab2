"""Which source format a line, a file or a wrapped command produces.

Format names are the parser names of ``schemas.sources`` (issue 3). Detection is a
best effort from what the runner can see without reading content: the command line
for ``run``, then (a script that calls the CLI inside names none) the first recognisable
line of its output; for ``watch`` and ``publish`` the path, then the file's first
recognisable line (line shapes: ``schemas/sources/detect.py``). When it cannot tell, the caller's
``--format`` decides; ``auto`` leaves the choice to the worker's ``auto`` parser, which
detects per stream the same way.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath

from schemas.sources.detect import (
    AUTO,
    CLAUDE_JSON,
    CLAUDE_STREAM_JSON,
    CLAUDE_TRANSCRIPT,
    CODEX_JSON,
    GEMINI_JSON,
    OPENCLAW,
    detect_format,
    detect_stream_format,
)

KNOWN_FORMATS: frozenset[str] = frozenset(
    {CLAUDE_JSON, CLAUDE_STREAM_JSON, CLAUDE_TRANSCRIPT, CODEX_JSON, GEMINI_JSON, OPENCLAW}
)
# Formats whose output is one JSON document that may span lines (gemini pretty-prints).
DOCUMENT_FORMATS: frozenset[str] = frozenset({GEMINI_JSON})


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
    """Format of one JSON line from its shape (schemas/sources/detect.py), else None."""
    return detect_format(line)


def detect_output_format(lines: Iterable[bytes]) -> tuple[int, str] | None:
    """The index and format of the first recognisable line of a wrapped command's output.

    That line decides the format of the whole run, as the first recognisable line of a file
    does; the lines before it (a script's banners, text, JSON of no known shape) are not
    usage. Unlike a file's, the search has no line limit: a script may print a lot before
    it calls the agent CLI. None while no line is recognisable.
    """
    for index, line in enumerate(lines):
        stripped = line.strip()
        fmt = detect_format(stripped) if stripped.startswith(b"{") else None
        if fmt is not None:
            return index, fmt
    return None


def detect_file_content_format(path: str) -> str | None:
    """Format of a file from its first recognisable line (a first line may name no format:
    an OpenClaw or Claude transcript can open with a line of any type); None when unknown."""
    try:
        with Path(path).open("rb") as handle:
            return detect_stream_format(line.rstrip(b"\r\n") for line in handle)
    except OSError:
        return None


def detect_file_format(path: str, first_line: bytes | None, requested: str = AUTO) -> str:
    """The format to publish a file's lines under: explicit request, then path, then content."""
    if requested != AUTO:
        return requested
    return (
        detect_path_format(path)
        or (detect_line_format(first_line) if first_line else None)
        or (detect_file_content_format(path) if path != "-" else None)
        or AUTO
    )
