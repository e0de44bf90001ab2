"""Redaction: real captures keep exactly their usage and lose every content string."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.formats import detect_file_format
from producers.redact import EMPTY_SUBTREES, KEEP_STRINGS, KEEP_SUBTREES, UNREADABLE_TYPE, redact_line
from schemas.sources import PARSERS, BadLine, LineContext

REPO = Path(__file__).resolve().parents[3]
GEMINI = REPO / "tests" / "fixtures" / "gemini"
WHEN = datetime(2026, 1, 6, tzinfo=UTC)
CONTENT_STRINGS = (
    b"Because light attracts bugs",
    b"ULTRATHINK",
    b"The user wants me to read the claude-code-prompt.md",
    b"Portable, Resumable Claude Code Sessions",
    b"grep -n",
    b"Find drawer width calculations",
    b"echo step1",
    b"cat /tmp/codex_patch_test/test.txt",
    b"hello world",
    b"new content",
    b"/mnt/c/python/cctrace",
)


def real_files(real_fixtures: Path) -> list[tuple[str, Path]]:
    files = sorted(p for p in real_fixtures.glob("*/*") if p.suffix in (".json", ".jsonl"))
    return [(detect_file_format(str(p), p.read_bytes().split(b"\n", 1)[0]), p) for p in files]


def lines_of(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if path.suffix == ".json" and data.count(b"\n") > 1:
        return [orjson.dumps(orjson.loads(data))]  # a pretty-printed document is one record
    return [line for line in data.split(b"\n") if line.strip()]


def observe(fmt: str, lines: list[bytes]) -> list[Any]:
    """Every line's outcome under the format's parser, with the parser's state threaded."""
    parser = PARSERS[fmt]
    state: Any = None
    outcomes: list[Any] = []
    for position, line in enumerate(lines, start=1):
        context = LineContext(fmt, "runner", "stream", position, WHEN, ("root",), "scope", {})
        try:
            observations, state = parser(line, context, state)
        except BadLine as exc:
            outcomes.append(("rejected", exc.reason))
        else:
            outcomes.append(observations)
    return outcomes


def test_every_real_capture_has_a_detected_format(real_fixtures: Path) -> None:
    formats = {fmt for fmt, _ in real_files(real_fixtures)}
    assert formats == {"claude-json", "claude-stream-json", "claude-transcript", "codex-json"}


def test_redacted_real_lines_yield_exactly_the_same_usage(real_fixtures: Path) -> None:
    files = real_files(real_fixtures) + [("gemini-json", p) for p in sorted(GEMINI.glob("*.json"))]
    checked = 0
    for fmt, path in files:
        if fmt not in PARSERS:
            continue
        original = lines_of(path)
        redacted = [redact_line(line, fmt).value for line in original]
        before = observe(fmt, original)
        assert observe(fmt, redacted) == before, path.name
        checked += sum(1 for outcome in before if outcome and not isinstance(outcome, tuple))
    assert checked >= 100  # the transcript alone has 100 responses' worth of lines


def _content_strings(value: Any, key: str | None = None) -> list[str]:
    if isinstance(value, str):
        return [value] if key not in KEEP_STRINGS and len(value) >= 12 else []
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in KEEP_SUBTREES for s in _content_strings(v, k)]
    if isinstance(value, list):
        return [s for item in value for s in _content_strings(item, key)]
    return []


def test_no_content_string_of_any_real_capture_survives(real_fixtures: Path) -> None:
    for fmt, path in real_files(real_fixtures):
        for line in lines_of(path):
            out = redact_line(line, fmt).value
            for needle in CONTENT_STRINGS:
                assert needle not in out, (path.name, needle)
            for text in _content_strings(orjson.loads(line)):
                assert orjson.dumps(text)[1:-1] not in out, (path.name, text[:40])


def test_keep_content_and_unknown_formats_go_out_as_they_are(real_fixtures: Path) -> None:
    line = (real_fixtures / "claude-json" / "result-success.json").read_bytes().strip()
    kept = redact_line(line, "claude-json", keep_content=True)
    assert (kept.value, kept.changed, kept.known_format) == (line, False, True)
    unknown = redact_line(line, "somebody-elses-format")
    assert (unknown.value, unknown.known_format) == (line, False)


@pytest.mark.parametrize(
    "line", [b'{"type":"result","result":"secret', b"plain text secret", b"[1,2]", b"\xff\xfe{}", b"{" * 600]
)
def test_unreadable_lines_become_a_marker_without_their_bytes(line: bytes) -> None:
    out = redact_line(line, "claude-json")
    marker = orjson.loads(out.value)
    assert out.unreadable and marker["type"] == UNREADABLE_TYPE and marker["bytes"] == len(line)
    assert b"secret" not in out.value


# -- properties --------------------------------------------------------------------------
_keys = st.sampled_from(
    [*sorted(KEEP_STRINGS | KEEP_SUBTREES | EMPTY_SUBTREES), "text", "content"]
) | st.text(max_size=12)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=40,
)
_usage = st.dictionaries(
    st.sampled_from(["input_tokens", "output_tokens", "cache_read_input_tokens", "service_tier"]),
    st.integers(min_value=0, max_value=10**9) | st.text(max_size=10),
    min_size=1,
)


def _empty_like(value: Any) -> Any:
    return (
        {}
        if isinstance(value, dict)
        else []
        if isinstance(value, list)
        else ""
        if isinstance(value, str)
        else value
    )


def _assert_redacted(original: Any, redacted: Any, key: str | None) -> None:
    """The specification, independently of the implementation's recursion."""
    if isinstance(original, dict):
        assert isinstance(redacted, dict) and list(redacted) == list(original)
        for k, v in original.items():
            if k in KEEP_SUBTREES:
                assert redacted[k] == v
            elif k in EMPTY_SUBTREES:
                assert redacted[k] == _empty_like(v)
            else:
                _assert_redacted(v, redacted[k], k)
    elif isinstance(original, list):
        assert isinstance(redacted, list) and len(redacted) == len(original)
        for a, b in zip(original, redacted, strict=True):
            _assert_redacted(a, b, key)
    elif isinstance(original, str):
        assert redacted == (original if key in KEEP_STRINGS else "")
    else:
        assert redacted == original and type(redacted) is type(original)


@settings(max_examples=300, deadline=None)
@given(obj=st.dictionaries(_keys, _json, max_size=6), usage=_usage)
def test_any_json_object_stays_valid_json_of_the_same_shape(
    obj: dict[str, Any], usage: dict[str, Any]
) -> None:
    obj = {**obj, "message": {"usage": usage, "content": [{"type": "text", "text": "secret words"}]}}
    out = redact_line(orjson.dumps(obj), "claude-transcript")
    redacted = orjson.loads(out.value)
    assert not out.unreadable
    assert redacted["message"]["usage"] == usage
    _assert_redacted(obj, redacted, None)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200) | _json.map(orjson.dumps))
def test_any_bytes_in_valid_json_out(data: bytes) -> None:
    out = redact_line(data, "codex-json")
    assert isinstance(orjson.loads(out.value), dict)


ROLLOUT = [
    {"timestamp": "2025-11-01T10:00:00.000Z", "type": "session_meta", "payload": {
        "id": "0199a213-81c0-7800-8aa1-bbab2a035a53", "timestamp": "2025-11-01T10:00:00.000Z",
        "cwd": "/home/u/SECRET-project", "originator": "codex_cli_rs", "cli_version": "0.46.0",
        "instructions": "SECRET instructions",
        "git": {"branch": "SECRET-branch", "repository_url": "SECRET-url"}}},
    {"timestamp": "2025-11-01T10:00:01.000Z", "type": "turn_context", "payload": {
        "cwd": "/home/u/SECRET-project", "approval_policy": "on-request", "model": "gpt-5-codex",
        "effort": "medium", "summary": "auto", "sandbox_policy": {"mode": "workspace-write"}}},
    {"timestamp": "2025-11-01T10:00:02.000Z", "type": "response_item", "payload": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "SECRET prompt"}]}},
    {"timestamp": "2025-11-01T10:00:03.000Z", "type": "event_msg", "payload": {
        "type": "user_message", "message": "SECRET prompt", "kind": "plain"}},
    {"timestamp": "2025-11-01T10:00:04.000Z", "type": "response_item", "payload": {
        "type": "reasoning", "summary": [{"type": "summary_text", "text": "SECRET thought"}],
        "encrypted_content": "SECRET-gAAAA"}},
    {"timestamp": "2025-11-01T10:00:05.000Z", "type": "response_item", "payload": {
        "type": "function_call", "name": "shell", "call_id": "call_1",
        "arguments": '{"command":["bash","-lc","cat SECRET_FILE"]}'}},
    {"timestamp": "2025-11-01T10:00:06.000Z", "type": "response_item", "payload": {
        "type": "function_call_output", "call_id": "call_1", "output": "SECRET output"}},
    {"timestamp": "2025-11-01T10:00:07.000Z", "type": "event_msg", "payload": {
        "type": "token_count", "info": {
        "total_token_usage": {"input_tokens": 1000, "cached_input_tokens": 800, "output_tokens": 50,
                              "reasoning_output_tokens": 20, "total_tokens": 1050},
        "last_token_usage": {"input_tokens": 1000, "cached_input_tokens": 800, "output_tokens": 50,
                             "reasoning_output_tokens": 20, "total_tokens": 1050},
        "model_context_window": 272000},
        "rate_limits": {"primary": {"used_percent": 5.0, "window_minutes": 300}, "plan_type": "plus"}}},
    {"timestamp": "2025-11-01T10:00:08.000Z", "type": "event_msg", "payload": {
        "type": "agent_message", "message": "SECRET answer"}},
]  # fmt: skip


def test_codex_rollout_keeps_its_usage_and_loses_its_content() -> None:
    if "codex-json" not in PARSERS:
        pytest.skip("no codex-json parser yet")
    original = [orjson.dumps(line) for line in ROLLOUT]
    redacted = [redact_line(line, "codex-json").value for line in original]
    before = observe("codex-json", original)
    assert observe("codex-json", redacted) == before
    assert any(outcome and not isinstance(outcome, tuple) for outcome in before)  # usage was seen
    assert not any(b"SECRET" in line for line in redacted)


def test_redacted_openclaw_session_keeps_its_usage_exactly() -> None:
    path = REPO / "tests" / "fixtures" / "openclaw" / "8555a0a4-0b79-459d-939c-e17cdbbf4fe2.jsonl"
    lines = lines_of(path)
    redacted = [redact_line(line, "openclaw").value for line in lines]
    assert b"OPENCLAW-CONTENT-MARKER" not in b"".join(redacted)
    assert b"clawdbot-main" not in b"".join(redacted)  # the header's cwd

    def observations(fmt: str, stream: list[bytes]) -> list[Any]:
        state: Any = None
        out = []
        for position, line in enumerate(stream, 1):
            ctx = LineContext(fmt, "r", "s", position, WHEN)
            found, state = PARSERS[fmt](line, ctx, state)
            out.extend((o.identity, o.tokens, o.reported_cost_usd, o.model) for o in found)
        return out

    original = observations("openclaw", lines)
    assert len(original) == 10
    assert observations("auto", redacted) == observations("openclaw", redacted) == original
