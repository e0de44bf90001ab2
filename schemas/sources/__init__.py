"""One module per CLI source format; ``PARSERS`` maps a format name to its parser."""

from __future__ import annotations

from schemas.sources import claude_json
from schemas.sources.base import BadLine, LineContext, Observation, Parser

PARSERS: dict[str, Parser] = {
    claude_json.FORMAT: claude_json.parse,
}

__all__ = ["PARSERS", "BadLine", "LineContext", "Observation", "Parser"]
