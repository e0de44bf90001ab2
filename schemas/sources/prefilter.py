"""Byte-level prefilters: skip a line that cannot carry usage before decoding its JSON.

A prefilter is only safe if a line it skips provably yields no observation and changes no
parser state. Per format:

- ``claude-transcript`` (stateless): an observation needs ``"type": "assistant"`` and
  ``message.usage``, so the decoded line holds the strings ``assistant`` and ``usage``. In
  the raw bytes each is written either literally or with at least one ``\\uXXXX`` escape
  (JSON has no other way to write a letter). A line without ``\\u`` that lacks the bytes
  ``usage`` or ``assistant`` therefore carries no usage.
- every other format: no prefilter (several keep per-stream state, e.g. Codex's thread id,
  from lines that carry no usage), so every line is decoded.

tests/unit/schemas/sources/test_prefilter.py checks, for every format's fixtures, the
hypothesis corpus and hostile lines, that no line a parser turns into an observation is
skipped.

A skipped line is not decoded, so it is not checked either: ``parse`` counts it as
"skipped", not as "no usage" (``--check-all`` decodes every line, as the worker does).
"""

from __future__ import annotations

from collections.abc import Callable


def _transcript_may_carry_usage(line: bytes) -> bool:
    return (b"usage" in line and b"assistant" in line) or b"\\u" in line


_PREFILTERS: dict[str, Callable[[bytes], bool]] = {
    "claude-transcript": _transcript_may_carry_usage,
}


def prefilter_for(fmt: str) -> Callable[[bytes], bool] | None:
    """``may_carry_usage(line)`` for format ``fmt`` (False: skip the line), or None when
    every line of that format must be decoded."""
    return _PREFILTERS.get(fmt)
