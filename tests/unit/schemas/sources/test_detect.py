"""Format detection from a line's shape, per stream, and the ``auto`` parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.sources import PARSERS, BadLine
from schemas.sources.detect import detect_format, detect_stream_format
from schemas.usage import TokenCounts

from ..support import context, fixture_lines, run, total_cost, total_tokens

HERE = Path(__file__).resolve().parents[3] / "fixtures"
REAL = {
    "claude-json": "claude-json",
    "claude-stream-json": "claude-stream-json",
    "claude-transcript": "claude-transcript",
    "codex-exec-json": "codex-json",
}


def test_first_lines_of_the_real_captures(real_fixtures: Path) -> None:
    for folder, fmt in REAL.items():
        for path in sorted((real_fixtures / folder).iterdir()):
            assert detect_format(fixture_lines(path)[0]) == fmt, path


def test_every_line_of_the_openclaw_capture_is_openclaw() -> None:
    lines = fixture_lines(HERE / "openclaw" / "8555a0a4-0b79-459d-939c-e17cdbbf4fe2.jsonl")
    assert {detect_format(line) for line in lines} == {"openclaw"}


def test_gemini_documents_including_error_only() -> None:
    for path in sorted((HERE / "gemini").glob("*.json")):
        assert detect_format(path.read_bytes()) == "gemini-json", path


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"type":"event_msg","payload":{"type":"token_count"}}', "codex-json"),
        (b'{"type":"turn.completed","usage":{}}', "codex-json"),
        (b'{"type":"result","session_id":"s"}', "claude-json"),
        (b'{"type":"system","subtype":"init","session_id":"s"}', "claude-stream-json"),
        (b'{"type":"user","sessionId":"s"}', "claude-transcript"),
        (b'{"type":"summary","summary":"x"}', "claude-transcript"),
        (b'{"type":"session","version":3,"id":"s"}', "openclaw"),
        (b'{"type":"custom","customType":"model-snapshot"}', "openclaw"),
        (b'{"hello":1}', None),
        (b'{"type":"message","message":"x"}', None),
        (b'{"type":["assistant"]}', None),
        (b"[1]", None),
        (b"not json", None),
        (b"", None),
    ],
)
def test_line_shapes(line: bytes, expected: str | None) -> None:
    assert detect_format(line) == expected


def test_a_stream_is_classified_by_its_first_recognisable_line() -> None:
    lines = [b"garbage", b'{"note":1}', b'{"type":"thread.started","thread_id":"t"}', b'{"type":"result"}']
    assert detect_stream_format(lines) == "codex-json"
    assert detect_stream_format(lines, max_lines=2) is None
    assert detect_stream_format([]) is None


def test_auto_parser_gives_the_exact_transcript_totals_under_the_real_source(real_fixtures: Path) -> None:
    path = real_fixtures / "claude-transcript" / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
    events = run("auto", fixture_lines(path))
    assert total_tokens(events) == TokenCounts(
        input_tokens=2_016, output_tokens=64_185, cache_write_5m_tokens=622_125, cache_read_tokens=10_172_221
    )
    assert str(total_cost(events)) == "10.589096750000"
    assert {e.source for e in events} == {"claude-transcript"}


def test_auto_parser_keeps_the_first_detected_format_per_stream(real_fixtures: Path) -> None:
    lines = fixture_lines(real_fixtures / "codex-exec-json" / "hello_world.jsonl")
    state: Any = None
    for position, line in enumerate(lines, 1):
        _, state = PARSERS["auto"](line, context("auto", position), state)
        assert state["format"] == "codex-json"
    assert state["state"] == {"session": "019c8140-6f07-7fb1-86f8-4813739c32bb"}
    # A later line of another shape is parsed as the stream's format, not re-detected.
    with pytest.raises(BadLine):
        PARSERS["auto"](b'{"type":"turn.completed","usage":{"input_tokens":-1}}', context("auto"), state)


def test_auto_parser_rejects_lines_before_a_recognisable_one() -> None:
    with pytest.raises(BadLine, match="not recognised"):
        PARSERS["auto"](b'{"hello":1}', context("auto"), None)
    with pytest.raises(BadLine, match="not valid JSON"):
        PARSERS["auto"](b"nope", context("auto"), None)
