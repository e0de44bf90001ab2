"""One module per CLI source format; ``PARSERS`` maps a format name to its parser.

See README.md beside this file for each format's quirks and identity rule.
"""

from __future__ import annotations

from schemas.sources import (
    claude_json,
    claude_stream_json,
    claude_transcript,
    codex_json,
    detect,
    gemini_json,
    openclaw,
)
from schemas.sources.base import BadLine, LineContext, Observation, Parser

PARSERS: dict[str, Parser] = {
    claude_json.FORMAT: claude_json.parse,
    claude_stream_json.FORMAT: claude_stream_json.parse,
    claude_transcript.FORMAT: claude_transcript.parse,
    codex_json.FORMAT: codex_json.parse,
    gemini_json.FORMAT: gemini_json.parse,
    openclaw.FORMAT: openclaw.parse,
}
# ``auto``: the format is detected from the stream's first recognisable line (detect.py).
PARSERS[detect.AUTO] = detect.make_auto_parser(dict(PARSERS))

__all__ = ["PARSERS", "BadLine", "LineContext", "Observation", "Parser"]
