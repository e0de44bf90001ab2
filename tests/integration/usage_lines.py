"""Crafted CLI output naming any model: one run of each supported CLI format, no reported cost.

Every run has the same usage: 80,000 fresh input tokens, 20,000 cache-read tokens and
10,000 output tokens, so its cost is 0.08 x input + 0.02 x cache read + 0.01 x output
(prices in USD per million tokens) whichever CLI wrote it. Each is written as a file of
its own (a stream of its own) for ``publish`` to detect the format of.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

FRESH_INPUT, CACHE_READ, OUTPUT = 80_000, 20_000, 10_000


def claude_result(model: str, session: str) -> bytes:
    """``claude -p --output-format json`` with ``modelUsage`` and no ``costUSD``."""
    usage = {
        "input_tokens": FRESH_INPUT,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": CACHE_READ,
        "output_tokens": OUTPUT,
    }
    per_model = {
        "inputTokens": FRESH_INPUT,
        "outputTokens": OUTPUT,
        "cacheReadInputTokens": CACHE_READ,
        "cacheCreationInputTokens": 0,
    }
    result = {
        "type": "result",
        "subtype": "success",
        "session_id": session,
        "uuid": f"{session}-result",
        "usage": usage,
        "modelUsage": {model: per_model},
    }
    return orjson.dumps(result) + b"\n"


def codex_rollout(model: str, session: str, when: str = "2026-11-20T10:00:00Z") -> bytes:
    """A Codex rollout: ``session_meta``, ``turn_context`` naming the model, a token count
    whose ``input_tokens`` includes the cached ones."""
    total = {
        "input_tokens": FRESH_INPUT + CACHE_READ,
        "cached_input_tokens": CACHE_READ,
        "output_tokens": OUTPUT,
    }
    lines: list[dict[str, Any]] = [
        {"timestamp": when, "type": "session_meta", "payload": {"id": session}},
        {"timestamp": when, "type": "turn_context", "payload": {"model": model}},
        {
            "timestamp": when,
            "type": "event_msg",
            "payload": {"type": "token_count", "info": {"total_token_usage": total}},
        },
    ]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def gemini_run(model: str, session: str) -> bytes:
    """``gemini -p --output-format json`` on one line: ``prompt`` includes ``cached``."""
    tokens = {
        "input": FRESH_INPUT,
        "prompt": FRESH_INPUT + CACHE_READ,
        "candidates": OUTPUT,
        "total": FRESH_INPUT + CACHE_READ + OUTPUT,
        "cached": CACHE_READ,
        "thoughts": 0,
        "tool": 0,
    }
    document = {"session_id": session, "response": "ok", "stats": {"models": {model: {"tokens": tokens}}}}
    return orjson.dumps(document) + b"\n"


WRITERS = {"claude-json": claude_result, "codex-json": codex_rollout, "gemini-json": gemini_run}


def write_run(folder: Path, fmt: str, model: str, session: str) -> Path:
    """One run of ``fmt`` naming ``model`` in a file of its own under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{session}.{'json' if fmt == 'gemini-json' else 'jsonl'}"
    path.write_bytes(WRITERS[fmt](model, session))
    return path
